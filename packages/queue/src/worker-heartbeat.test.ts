import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.ts";
import {
  HEARTBEAT_TTL_SECONDS,
  readWorkers,
  startHeartbeat,
  WORKER_KEY_PREFIX,
  workerKey,
} from "./worker-heartbeat.ts";

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

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

    const first = await until(
      () => readWorkers(redis),
      (workers) => workers.length === 2,
    );
    const w1 = first.find((worker) => worker.id === "w1");
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
    const busy = await until(
      async () => JSON.parse((await redis.get("asu:workers:w1")) ?? "{}"),
      (status) => status.state === "busy",
    );
    expect(busy.active).toEqual(["a".repeat(64)]);

    beat.buildFinished("a".repeat(64));
    beat.builders(false);
    const unavailable = await until(
      async () => JSON.parse((await redis.get("asu:workers:w1")) ?? "{}"),
      (status) => status.state === "unavailable",
    );
    expect(unavailable.active).toEqual([]);
    beat.builders(true);
    await until(
      async () => JSON.parse((await redis.get("asu:workers:w1")) ?? "{}"),
      (status) => status.state === "idle",
    );
    beat.stopping();
    const stopping = await until(
      async () => JSON.parse((await redis.get("asu:workers:w1")) ?? "{}"),
      (status) => status.state === "stopping",
    );
    expect(stopping.active).toEqual([]);

    await beat.stop();
    expect(await redis.exists("asu:workers:w1")).toBe(0);
    expect((await readWorkers(redis)).map((worker) => worker.id)).toEqual(["w2"]);
    await other.stop();
    expect(await readWorkers(redis)).toEqual([]);
  });

  it("refreshes the key on its interval", async () => {
    const redis = server.client();
    const beat = startHeartbeat(redis, { workerId: "w3", concurrency: 1, intervalMs: 50 });
    const first = await until(
      () => redis.get("asu:workers:w3"),
      (value) => value !== null,
    );
    const later = await until(
      () => redis.get("asu:workers:w3"),
      (value) => value !== first,
    );
    expect(JSON.parse(later ?? "{}").updated_at > JSON.parse(first ?? "{}").updated_at).toBe(true);
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
    const silent = startHeartbeat(unreachable, {
      workerId: "w5",
      concurrency: 1,
      intervalMs: 50,
      onError: () => {},
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(silent.fresh()).toBe(false);
    await silent.stop();
    unreachable.disconnect();
  });
});
