import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { Redis } from "ioredis";
import { describeExit, type SupervisedChild, spawnChild } from "./child-process.ts";

export interface PrivateRedis {
  url: string;
  readonly child: SupervisedChild;
  stop(): Promise<void>;
}

/** Loading a large append-only file can take a while before Redis answers PING. */
const READY_TIMEOUT_MS = 60_000;
/** Redis writes its append-only file on SIGTERM; give it time before SIGKILL. */
const STOP_GRACE_MS = 20_000;
/** Another process may take the free port between probing and Redis binding it. */
const PORT_ATTEMPTS = 3;

/** A loopback port nobody listens on right now. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function answersPing(url: string): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1_000,
  });
  probe.on("error", () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === "PONG";
  } catch {
    // Refused while starting, or LOADING while it reads the append-only file.
    return false;
  } finally {
    probe.disconnect();
  }
}

async function waitUntilReady(child: SupervisedChild, url: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (!child.isRunning()) {
      throw new Error(
        `redis-server exited (${describeExit(await child.exited)}) before answering:\n${child.output().trim()}`,
      );
    }
    if (await answersPing(url)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `redis-server did not answer PING on ${url} within ${READY_TIMEOUT_MS / 1000} s:\n${child.output().trim()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A redis-server owned by this process: loopback only, data under `dataDir`,
 * and a new password each start (passed in a file only the owner reads), so
 * no other local process, a build container included, gets in.
 */
export async function startPrivateRedis(options: {
  program: string;
  dataDir: string;
}): Promise<PrivateRedis> {
  await mkdir(options.dataDir, { recursive: true });
  const password = randomBytes(24).toString("hex");
  const authFile = join(options.dataDir, "auth.conf");
  await writeFile(authFile, `requirepass ${password}\n`, { mode: 0o600 });
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await freeLoopbackPort();
    const child = await spawnChild(options.program, [
      authFile,
      "--bind",
      "127.0.0.1",
      "--port",
      String(port),
      "--dir",
      options.dataDir,
      "--appendonly",
      "yes",
      // The append-only file is the persistence; no RDB snapshots beside it.
      "--save",
      "",
      "--daemonize",
      "no",
    ]);
    const url = `redis://:${password}@127.0.0.1:${port}`;
    try {
      await waitUntilReady(child, url);
    } catch (error) {
      await child.stop(STOP_GRACE_MS);
      lastError = error as Error;
      if (/address already in use/i.test(child.output())) continue;
      throw error;
    }
    return {
      url,
      child,
      async stop() {
        if (!child.isRunning()) return;
        const exit = await child.stop(STOP_GRACE_MS);
        if (exit.signal === "SIGKILL") {
          throw new Error(`redis-server did not stop within ${STOP_GRACE_MS / 1000} s`);
        }
      },
    };
  }
  throw lastError ?? new Error("redis-server did not start");
}
