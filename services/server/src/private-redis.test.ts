import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPrivateRedis } from "./private-redis.ts";

let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "asu-private-redis-"));
});

afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe("startPrivateRedis", () => {
  it("keeps data in an append-only file on loopback and stops on request", async () => {
    const dataDir = join(workDir, "data", "redis");
    const redis = await startPrivateRedis({ program: "redis-server", dataDir });
    expect(redis.url).toMatch(/^redis:\/\/:[0-9a-f]{48}@127\.0\.0\.1:\d+$/);
    // A password is required: a client without it is refused.
    const stranger = new Redis(`redis://127.0.0.1:${new URL(redis.url).port}`, {
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    stranger.on("error", () => {});
    await expect(stranger.get("anything")).rejects.toThrow(/NOAUTH/);
    stranger.disconnect();
    const client = new Redis(redis.url);
    try {
      expect(await client.config("GET", "appendonly")).toEqual(["appendonly", "yes"]);
      expect(await client.config("GET", "bind")).toEqual(["bind", "127.0.0.1"]);
      expect(await client.config("GET", "dir")).toEqual(["dir", dataDir]);
      await client.set("kept", "1");
    } finally {
      client.disconnect();
    }
    await redis.stop();
    expect(redis.child.isRunning()).toBe(false);

    // A second start reads the value back from the append-only file.
    const again = await startPrivateRedis({ program: "redis-server", dataDir });
    const reader = new Redis(again.url);
    try {
      expect(await reader.get("kept")).toBe("1");
    } finally {
      reader.disconnect();
      await again.stop();
    }
    expect(await readdir(join(dataDir, "appendonlydir"))).toContain("appendonly.aof.manifest");
  });

  it("reports a redis-server that exits at once, with its output", async () => {
    const start = startPrivateRedis({ program: "/bin/false", dataDir: join(workDir, "bad") });
    await expect(start).rejects.toThrow(/^redis-server exited \(exit code 1\) before answering/);
  });
});
