import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type PodmanService, startPodmanService } from "./support/podman-service.ts";
import { type RedisServer, startRedisServer } from "./support/redis-server.ts";

let podman: PodmanService;
let redis: RedisServer;

beforeAll(async () => {
  podman = await startPodmanService();
  redis = await startRedisServer();
}, 120_000);

afterAll(async () => {
  await redis?.stop();
  await podman?.stop();
});

describe("worker shutdown", () => {
  it("exits on SIGTERM even when Redis has gone away", async () => {
    const main = fileURLToPath(new URL("../services/worker/src/main.ts", import.meta.url));
    const child = spawn(process.execPath, [main], {
      env: {
        ...process.env,
        REDIS_URL: redis.url,
        CONTAINER_SOCKET_PATH: podman.socketPath,
        PUBLIC_PATH: await mkdtemp(join(tmpdir(), "asu-shutdown-")),
        WORKER_SHUTDOWN_GRACE: "1",
        LOG_LEVEL: "info",
        ALLOW_UNGUARDED_BUILD_NETWORK: "1",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += String(chunk);
    });
    child.stderr.on("data", (chunk) => {
      output += String(chunk);
    });
    await vi.waitFor(
      () => {
        if (!output.includes('"worker started"')) throw new Error(output);
      },
      { timeout: 30_000, interval: 100 },
    );

    await redis.stop();
    const stopped = Date.now();
    child.kill("SIGTERM");
    const [code] = await once(child, "exit");
    expect(code).toBe(0);
    // Grace (1 s) plus the cancel grace and the bounded goodbyes to Redis.
    expect(Date.now() - stopped).toBeLessThan(25_000);
  }, 60_000);
});
