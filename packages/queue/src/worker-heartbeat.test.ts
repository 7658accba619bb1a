import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.ts";
import {
  HEARTBEAT_TTL_SECONDS,
  readWorkers,
  startHeartbeat,
  WORKER_KEY_PREFIX,
  workerKey,
} from "./worker-heartbeat.ts";

const statusOf = async (redis: Redis, id: string) =>
  JSON.parse((await redis.get(`asu:workers:${id}`)) ?? "{}");

describe("worker heartbeat", () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("keeps one expiring key per worker that tells idle from busy", async () => {
    const redis = server.client();
    expect(workerKey("w1")).toBe("asu:workers:w1");
    expect(WORKER_KEY_PREFIX).toBe("asu:workers:");
    const beat = startHeartbeat(redis, { workerId: "w1", concurrency: 2 });
    const other = startHeartbeat(redis, { workerId: "w2", concurrency: 1 });

    await expect.poll(async () => (await readWorkers(redis)).length).toBe(2);
    const w1 = (await readWorkers(redis)).find((worker) => worker.id === "w1");
    expect(w1).toMatchObject({
      id: "w1",
      concurrency: 2,
      state: "idle",
      active: [],
      pid: process.pid,
    });
    const ttl = await redis.ttl("asu:workers:w1");
    expect(ttl).toBeGreaterThan(HEARTBEAT_TTL_SECONDS - 3);
    expect(ttl).toBeLessThanOrEqual(HEARTBEAT_TTL_SECONDS);

    beat.buildStarted("a".repeat(64));
    await expect
      .poll(() => statusOf(redis, "w1"))
      .toMatchObject({ state: "busy", active: ["a".repeat(64)] });

    beat.buildFinished("a".repeat(64));
    beat.builders(false);
    await expect
      .poll(() => statusOf(redis, "w1"))
      .toMatchObject({ state: "unavailable", active: [] });
    beat.builders(true);
    await expect.poll(() => statusOf(redis, "w1")).toMatchObject({ state: "idle" });
    beat.stopping();
    await expect.poll(() => statusOf(redis, "w1")).toMatchObject({ state: "stopping", active: [] });

    await beat.stop();
    expect(await redis.exists("asu:workers:w1")).toBe(0);
    expect((await readWorkers(redis)).map((worker) => worker.id)).toEqual(["w2"]);
    await other.stop();
    expect(await readWorkers(redis)).toEqual([]);
  });

  it("refreshes the key on its interval", async () => {
    const redis = server.client();
    const beat = startHeartbeat(redis, { workerId: "w3", concurrency: 1, intervalMs: 50 });
    await expect.poll(() => redis.get("asu:workers:w3")).not.toBeNull();
    const first = await statusOf(redis, "w3");
    await expect
      .poll(async () => (await statusOf(redis, "w3")).updated_at > first.updated_at)
      .toBe(true);
    await beat.stop();
  });

  it("is fresh once a beat has landed, and not while Redis refuses it or after stop", async () => {
    const redis = server.client();
    const beat = startHeartbeat(redis, { workerId: "w4", concurrency: 1, intervalMs: 50 });
    await expect.poll(() => beat.fresh(), { timeout: 10_000 }).toBe(true);
    await beat.stop();
    expect(beat.fresh()).toBe(false);

    const gone = await startRedisServer();
    const unreachable = gone.client();
    await gone.stop();
    let refused = 0;
    const silent = startHeartbeat(unreachable, {
      workerId: "w5",
      concurrency: 1,
      intervalMs: 50,
      onError: () => {
        refused++;
      },
    });
    // Beats that Redis refused, not a while without news.
    await expect.poll(() => refused).toBeGreaterThanOrEqual(2);
    expect(silent.fresh()).toBe(false);
    await silent.stop();
    unreachable.disconnect();
  });
});
