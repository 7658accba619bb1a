import { createBuildQueue, type WorkerStatus, writeWorkerStatus } from "@asu/queue";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.ts";
import { createEtaSource } from "./eta-source.ts";

/*
 * The estimate's inputs are read beside requests, never in their way: while
 * Redis answers nothing (CLIENT PAUSE from another connection), an answer
 * still comes from the last reading, and before any reading a request waits
 * only its short bound, then answers without an estimate.
 */

let server: RedisServer;
let redis: Redis;
let admin: Redis;
const PAUSE_MS = 3000;

beforeAll(async () => {
  server = await startRedisServer();
  redis = server.client();
  admin = server.client();
  await writeWorkerStatus(redis, { id: "w1", concurrency: 2, state: "idle" } as WorkerStatus);
});

afterAll(async () => {
  await server?.stop();
});

/** Runs `answer` while Redis is paused: whether it settled before the pause ended, and its value. */
async function whilePaused<T>(answer: () => Promise<T>) {
  await admin.call("CLIENT", "PAUSE", String(PAUSE_MS), "ALL");
  const pauseOver = new Promise<"paused over">((resolve) =>
    setTimeout(() => resolve("paused over"), PAUSE_MS - 500),
  );
  const value = answer();
  const first = await Promise.race([value.then(() => "answered" as const), pauseOver]);
  await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
  return { first, value: await value };
}

describe("eta source", () => {
  it("answers from its last reading while a refresh waits for Redis", async () => {
    const queue = createBuildQueue({ connection: redis });
    const eta = createEtaSource({ queue, redis, maxAgeMs: 50 });
    await expect.poll(() => eta.newBuild(0)).toBeGreaterThan(0);
    const fresh = (await eta.newBuild(3)) as number;
    await new Promise((resolve) => setTimeout(resolve, 100));
    // The reading is stale: this answer starts a refresh, which Redis holds.
    const { first, value } = await whilePaused(() => eta.newBuild(3));
    expect(first).toBe("answered");
    expect(value).toBe(fresh);
  }, 20_000);

  it("before any reading, waits at most its bound and answers without an estimate", async () => {
    const queue = createBuildQueue({ connection: redis });
    const { first, value } = await whilePaused(async () => {
      const eta = createEtaSource({ queue, redis, firstReadingWaitMs: 100 });
      return eta.newBuild(3);
    });
    expect(first).toBe("answered");
    expect(value).toBeUndefined();
  }, 20_000);
});
