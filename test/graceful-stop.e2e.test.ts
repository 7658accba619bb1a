import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeUpstream, startFakeUpstream } from "./support/fake-upstream.ts";
import { type RedisServer, startRedisServer } from "./support/redis-server.ts";

// SIGTERM under load: every request that got through is answered in full,
// keep-alive connections close after their answer, and nothing is reset.

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

async function startTier(main: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [fileURLToPath(main)], {
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...env },
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
  /** Answers cut short or connections reset by the server: must stay 0. */
  broken: string[];
  /** New connections refused once the tier stopped listening: expected. */
  refused: number;
}

function call(agent: Agent, url: string, target: Target): Promise<"answered" | "refused" | string> {
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
          resolve(whole ? "answered" : `${res.statusCode}: ${text}`);
        });
        res.on("error", (error) => resolve(`response ${error.message}`));
      },
    );
    req.on("error", (error: NodeJS.ErrnoException) =>
      resolve(error.code === "ECONNREFUSED" ? "refused" : `${error.code}: ${error.message}`),
    );
    req.end(body);
  });
}

/** `clients` keep-alive loops hammer the tier until it refuses them. */
async function load(
  url: string,
  target: Target,
  clients: number,
  onRunning: () => void,
): Promise<Outcome> {
  const outcome: Outcome = { answered: 0, broken: [], refused: 0 };
  let started = false;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        for (;;) {
          const result = await call(agent, url, target);
          if (result === "answered") outcome.answered++;
          else if (result === "refused") {
            outcome.refused++;
            return;
          } else outcome.broken.push(result);
          if (!started && outcome.answered >= clients * 5) {
            started = true;
            onRunning();
          }
        }
      } finally {
        agent.destroy();
      }
    }),
  );
  return outcome;
}

async function stopUnderLoad(
  tier: { child: ChildProcess; url: string; output: () => string },
  target: Target,
) {
  const exited = once(tier.child, "exit");
  const outcome = await load(tier.url, target, 40, () => tier.child.kill("SIGTERM"));
  const [code] = await exited;
  return { outcome, code };
}

describe("SIGTERM under load", () => {
  it("the prepare tier answers every request it took and resets none", async () => {
    const tier = await startTier(new URL("../services/prepare/src/main.ts", import.meta.url).href, {
      UPSTREAM_URL: upstream.url,
      BUILD_API_URL: "http://127.0.0.1:9",
    });
    const { outcome, code } = await stopUnderLoad(tier, {
      path: "/api/v1/build/prepare",
      status: 200,
    });
    expect(outcome.broken).toEqual([]);
    expect(outcome.answered).toBeGreaterThan(200);
    expect(outcome.refused).toBe(40);
    expect(code).toBe(0);
  }, 120_000);

  it("the build tier answers every request it took and resets none", async () => {
    const tier = await startTier(
      new URL("../services/build-api/src/main.ts", import.meta.url).href,
      {
        UPSTREAM_URL: upstream.url,
        REDIS_URL: redis.url,
        PUBLIC_PATH: publicPath,
      },
    );
    const { outcome, code } = await stopUnderLoad(tier, { path: "/api/v1/build", status: 202 });
    expect(outcome.broken).toEqual([]);
    expect(outcome.answered).toBeGreaterThan(200);
    expect(outcome.refused).toBe(40);
    expect(code).toBe(0);
  }, 120_000);
});
