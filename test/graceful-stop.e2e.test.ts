import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeUpstream, startFakeUpstream } from "./support/fake-upstream.ts";
import { type PodmanService, startPodmanService } from "./support/podman-service.ts";
import { type RedisServer, startRedisServer } from "./support/redis-server.ts";

// SIGTERM under load, from clients that keep their connection and clients
// that open one per request: the tier keeps accepting through its drain
// (SHUTDOWN_DRAIN), answers every request in full with `Connection: close`,
// then stops listening; nothing is reset. A connection refused once the tier
// no longer listens ends a client: that is the tier gone, not a request lost.

let upstream: FakeUpstream;
let redis: RedisServer;
let publicPath: string;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  redis = await startRedisServer();
  publicPath = await mkdtemp(join(tmpdir(), "asu-graceful-"));
});

afterAll(async () => {
  await upstream?.close();
  await redis?.stop().catch(() => {});
  if (publicPath) await rm(publicPath, { recursive: true, force: true });
});

interface Target {
  path: string;
  status: number;
}

const body = JSON.stringify({
  version: "24.10.0",
  target: "ath79/generic",
  profile: "tplink_archer-c7-v5",
  packages: ["luci", "auc"],
});

async function startTier(main: string, env: Record<string, string>, cwd?: string) {
  const child = spawn(process.execPath, [fileURLToPath(main)], {
    cwd,
    env: {
      ...process.env,
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      SHUTDOWN_DRAIN: `${DRAIN_S}s`,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const url = await new Promise<string>((resolve, reject) => {
    const read = (chunk: Buffer) => {
      output += String(chunk);
      const found = /"url":"(http:\/\/[^"]+)"/.exec(output);
      if (found?.[1]) resolve(found[1]);
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.once("exit", (code) => reject(new Error(`tier exited with ${code}: ${output}`)));
  });
  return { child, url, output: () => output };
}

interface Outcome {
  answered: number;
  /** Answered after SIGTERM, each with `Connection: close`. */
  drained: number;
  /** Answers cut short, connections reset, anything but an answer: must stay empty. */
  broken: string[];
  /** New connections refused once the tier stopped listening: how each client ends. */
  refused: number;
}

type Result = { kind: "answered"; connection: string | undefined } | { kind: "refused" } | string;

function call(agent: Agent | false, url: string, target: Target): Promise<Result> {
  return new Promise((resolve) => {
    const req = request(
      `${url}${target.path}`,
      { method: "POST", agent, headers: { "content-type": "application/json" } },
      (res) => {
        let text = "";
        res.on("data", (chunk) => {
          text += String(chunk);
        });
        res.on("end", () => {
          const whole = res.statusCode === target.status && text.endsWith("}");
          resolve(
            whole
              ? { kind: "answered", connection: res.headers.connection }
              : `${res.statusCode}: ${text}`,
          );
        });
        res.on("error", (error) => resolve(`response ${error.message}`));
      },
    );
    req.on("error", (error: NodeJS.ErrnoException) =>
      resolve(
        error.code === "ECONNREFUSED" ? { kind: "refused" } : `${error.code}: ${error.message}`,
      ),
    );
    req.end(body);
  });
}

/**
 * `clients` loops of each kind hammer the tier until it refuses them: half
 * on one keep-alive connection each, half on a new connection per request.
 */
async function load(
  url: string,
  target: Target,
  clients: number,
  onRunning: () => void,
): Promise<Outcome & { stoppedAt: () => number }> {
  const outcome: Outcome = { answered: 0, drained: 0, broken: [], refused: 0 };
  let stoppedAt = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, index) => {
      const agent = index % 2 === 0 ? new Agent({ keepAlive: true, maxSockets: 1 }) : false;
      try {
        for (;;) {
          const result = await call(agent, url, target);
          if (typeof result === "string") {
            const kind = agent ? "keep-alive" : "new connection";
            const after = stoppedAt ? Math.round(performance.now() - stoppedAt) : -1;
            outcome.broken.push(`${kind}, ${after} ms after SIGTERM: ${result}`);
          } else if (result.kind === "refused") {
            outcome.refused++;
            return;
          } else {
            outcome.answered++;
            // (Answers already on their way when the signal landed still say keep-alive.)
            if (stoppedAt > 0 && result.connection === "close") outcome.drained++;
          }
          if (stoppedAt === 0 && outcome.answered >= clients * 5) {
            stoppedAt = performance.now();
            onRunning();
          }
        }
      } finally {
        if (agent) agent.destroy();
      }
    }),
  );
  return { ...outcome, stoppedAt: () => stoppedAt };
}

const CLIENTS = 40;
const DRAIN_S = 2;

async function stopUnderLoad(
  tier: { child: ChildProcess; url: string; output: () => string },
  target: Target,
) {
  const exited = once(tier.child, "exit");
  const outcome = await load(tier.url, target, CLIENTS, () => tier.child.kill("SIGTERM"));
  const drainedForMs = performance.now() - outcome.stoppedAt();
  const [code] = await exited;
  return { outcome, code, drainedForMs };
}

function expectDrained(result: Awaited<ReturnType<typeof stopUnderLoad>>) {
  const { outcome, code, drainedForMs } = result;
  expect(outcome.broken).toEqual([]);
  expect(outcome.answered).toBeGreaterThan(200);
  // Both kinds of client kept being answered through the drain, then each was refused once.
  expect(outcome.drained).toBeGreaterThan(CLIENTS);
  expect(drainedForMs).toBeGreaterThanOrEqual(DRAIN_S * 1000 - 100);
  expect(outcome.refused).toBe(CLIENTS);
  expect(code).toBe(0);
}

describe("SIGTERM under load", () => {
  it("the prepare tier drains: both kinds of client answered, none reset", async () => {
    const tier = await startTier(new URL("../services/prepare/src/main.ts", import.meta.url).href, {
      UPSTREAM_URL: upstream.url,
      BUILD_API_URL: "http://127.0.0.1:9",
    });
    expectDrained(await stopUnderLoad(tier, { path: "/api/v1/build/prepare", status: 200 }));
  }, 120_000);

  it("the build tier drains: both kinds of client answered, none reset", async () => {
    const tier = await startTier(
      new URL("../services/build-api/src/main.ts", import.meta.url).href,
      {
        UPSTREAM_URL: upstream.url,
        REDIS_URL: redis.url,
        PUBLIC_PATH: publicPath,
      },
    );
    expectDrained(await stopUnderLoad(tier, { path: "/api/v1/build", status: 202 }));
  }, 120_000);

  it("the all-in-one server drains: both kinds of client answered, none reset", async () => {
    const podman: PodmanService = await startPodmanService();
    const cwd = await mkdtemp(join(tmpdir(), "asu-graceful-server-"));
    try {
      const server = await startTier(
        new URL("../services/server/src/main.ts", import.meta.url).href,
        {
          UPSTREAM_URL: upstream.url,
          REDIS_URL: redis.url,
          CONTAINER_SOCKET_PATH: podman.socketPath,
          CONTAINERS_CONF: podman.env.CONTAINERS_CONF as string,
          // The guard is not what this test is about (server-start tests it).
          ALLOW_UNGUARDED_BUILD_NETWORK: "1",
          PUBLIC_PATH: join(cwd, "public"),
        },
        cwd,
      );
      expectDrained(await stopUnderLoad(server, { path: "/api/v1/build/prepare", status: 200 }));
    } finally {
      await podman.stop();
      await rm(cwd, { recursive: true, force: true });
    }
  }, 180_000);
});
