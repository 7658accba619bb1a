import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectListNeverServed } from "./support/completed-spellings.ts";
import { type FakeUpstream, startFakeUpstream } from "./support/fake-upstream.ts";
import { rawRequest } from "./support/raw-request.ts";
import { type RedisServer, startRedisServer } from "./support/redis-server.ts";

/*
 * No list of finished builds, against the tiers as deployed: `pnpm
 * start:build` and `pnpm start:prepare` as processes of their own, real
 * sockets, a real Redis. Neither tier's port serves the old list path,
 * however it is spelt, though a build has finished.
 */

const COMPLETED_KEY = "asu:builds:completed";
const LISTED = "b".repeat(64);

let upstream: FakeUpstream;
let redis: RedisServer;
let publicPath: string;
const children: ChildProcess[] = [];
let buildUrl: string;

/** A tier's process, and the URLs it logged as listening, by message. */
async function startTier(main: string, env: Record<string, string>, messages: string[]) {
  const child = spawn(process.execPath, [fileURLToPath(new URL(main, import.meta.url))], {
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let output = "";
  return new Promise<string[]>((resolve, reject) => {
    const read = (chunk: Buffer) => {
      output += String(chunk);
      const urls = messages.map(
        (message) =>
          new RegExp(`"url":"(http://[^"]+)"[^\\n]*"msg":"${message}"`).exec(output)?.[1],
      );
      if (urls.every(Boolean)) resolve(urls as string[]);
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.once("exit", (code) => reject(new Error(`tier exited with ${code}: ${output}`)));
  });
}

async function stop(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  await exited;
}

beforeAll(async () => {
  upstream = await startFakeUpstream();
  redis = await startRedisServer();
  publicPath = await mkdtemp(join(tmpdir(), "asu-no-build-list-"));
  [buildUrl] = (await startTier(
    "../services/build-api/src/main.ts",
    {
      UPSTREAM_URL: upstream.url,
      REDIS_URL: redis.url,
      PUBLIC_PATH: publicPath,
    },
    ["build tier listening"],
  )) as [string];
  // A build finished: what an attacker would list.
  const client = redis.client();
  await client.zadd(COMPLETED_KEY, Date.now(), LISTED);
  client.disconnect();
});

afterAll(async () => {
  await Promise.all(children.map(stop));
  await upstream?.close();
  await redis?.stop().catch(() => {});
  if (publicPath) await rm(publicPath, { recursive: true, force: true });
});

describe("the old list of finished builds on the tiers as deployed", () => {
  it("answers 404 on the build tier's port however its path is spelt", async () => {
    await expectListNeverServed(buildUrl, LISTED);
    // The port itself answers: the refusals are the route's absence, not a dead port.
    expect((await rawRequest(buildUrl, "/health")).status).toBe(200);
  });

  it("answers 404 on the prepare tier's port however its path is spelt", async () => {
    const [prepareUrl] = (await startTier(
      "../services/prepare/src/main.ts",
      { UPSTREAM_URL: upstream.url, BUILD_API_URL: buildUrl },
      ["prepare tier listening"],
    )) as [string];
    await expectListNeverServed(prepareUrl, LISTED);
    expect((await rawRequest(prepareUrl, "/metrics")).status).toBe(200);
  });
});
