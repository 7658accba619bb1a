import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.ts";
import {
  HEARTBEAT_TTL_SECONDS,
  readWorkers,
  startHeartbeat,
  WORKER_STATUS_KEY,
  WORKERS_KEY,
  writeWorkerStatus,
} from "./worker-heartbeat.ts";

const statusOf = async (redis: Redis, id: string) =>
  JSON.parse((await redis.hget("asu:workers:status", id)) ?? "{}");

describe("worker heartbeat", () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("keeps one expiring entry per worker that tells idle from busy", async () => {
    const redis = server.client();
    expect(WORKERS_KEY).toBe("asu:workers");
    expect(WORKER_STATUS_KEY).toBe("asu:workers:status");
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
    const ttl = await redis.ttl("asu:workers");
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
    expect(await redis.zscore("asu:workers", "w1")).toBeNull();
    expect(await redis.hexists("asu:workers:status", "w1")).toBe(0);
    expect((await readWorkers(redis)).map((worker) => worker.id)).toEqual(["w2"]);
    await other.stop();
    expect(await readWorkers(redis)).toEqual([]);
  });

  it("drops workers whose last beat is older than the TTL, on read and on the next beat", async () => {
    const redis = server.client();
    const stale = { id: "old", concurrency: 1, state: "idle" } as never;
    await writeWorkerStatus(redis, stale);
    const [seconds] = await redis.time();
    // As if its last beat were a TTL and a second ago.
    await redis.zadd("asu:workers", (Number(seconds) - HEARTBEAT_TTL_SECONDS - 1) * 1000, "old");
    expect(await readWorkers(redis)).toEqual([]);
    await writeWorkerStatus(redis, { id: "new", concurrency: 2, state: "busy" } as never);
    expect((await readWorkers(redis)).map((worker) => worker.id)).toEqual(["new"]);
    expect(await redis.zrange("asu:workers", 0, -1)).toEqual(["new"]);
    expect(await redis.hkeys("asu:workers:status")).toEqual(["new"]);
    await redis.del("asu:workers", "asu:workers:status");
  });

  it("reads the workers in one command, however many other keys there are", async () => {
    const redis = server.client();
    await writeWorkerStatus(redis, { id: "w9", concurrency: 2, state: "idle" } as never);
    const pipeline = redis.pipeline();
    for (let i = 0; i < 20_000; i++) pipeline.set(`asu:workers:unrelated:${i}`, "x");
    await pipeline.exec();
    const sent: string[] = [];
    const monitor = await redis.duplicate().monitor();
    monitor.on("monitor", (_time, args) => sent.push(String(args[0]).toLowerCase()));
    await readWorkers(redis);
    await readWorkers(redis);
    await new Promise((resolve) => setTimeout(resolve, 50));
    monitor.disconnect();
    // The first read may teach Redis the script (evalsha refused, then eval).
    const calls = sent.filter(
      (name) => name !== "hmget" && name !== "zrangebyscore" && name !== "time",
    );
    expect(calls.filter((name) => name === "scan" || name === "keys")).toEqual([]);
    expect(calls.length).toBeLessThanOrEqual(3);
    await redis.del("asu:workers", "asu:workers:status");
    await redis.flushdb();
  });

  it("refreshes the key on its interval", async () => {
    const redis = server.client();
    const beat = startHeartbeat(redis, { workerId: "w3", concurrency: 1, intervalMs: 50 });
    await expect.poll(() => redis.hget("asu:workers:status", "w3")).not.toBeNull();
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
