import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.ts";
import { createFairShare, PENDING_KEEP_SECONDS, PENDING_KEY_PREFIX } from "./fair-share.ts";

describe("fair share counts in Redis", () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("admits up to the share, counts builds that still wait, and lets every key expire", async () => {
    const redis = server.client();
    const shares = createFairShare(redis, { max: 2 });
    // Jobs as BullMQ keeps them: a hash per job, `processedOn` once a worker took it.
    await redis.hset("asu:builds:a", "timestamp", "1");
    await redis.hset("asu:builds:b", "timestamp", "1");
    await redis.hset("asu:builds:c", "timestamp", "1");
    await redis.hset("asu:builds:d", "timestamp", "1");
    expect(await shares.admit("198.51.100.1", "a")).toEqual({ admitted: true, waiting: 0 });
    expect(await shares.admit("198.51.100.1", "b")).toEqual({ admitted: true, waiting: 0 });
    expect(await shares.admit("198.51.100.1", "c")).toEqual({ admitted: false, waiting: 2 });
    expect(await shares.admit("198.51.100.2", "c")).toEqual({ admitted: true, waiting: 0 });

    const key = `${PENDING_KEY_PREFIX}198.51.100.1`;
    expect(await redis.zrange(key, 0, -1)).toEqual(["a", "b"]);
    const ttl = await redis.ttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(PENDING_KEEP_SECONDS);

    // One started, one was removed: both leave the count.
    await redis.hset("asu:builds:a", "processedOn", "2");
    expect(await shares.admit("198.51.100.1", "c")).toEqual({ admitted: true, waiting: 0 });
    await redis.del("asu:builds:b");
    expect(await shares.admit("198.51.100.1", "d")).toEqual({ admitted: true, waiting: 0 });
    expect((await redis.zrange(key, 0, -1)).sort()).toEqual(["c", "d"]);

    await shares.release("198.51.100.1", "d");
    expect(await redis.zrange(key, 0, -1)).toEqual(["c"]);
  });

  it("forgets entries older than a day whatever their job says", async () => {
    const redis = server.client();
    let now = Date.parse("2026-01-01T00:00:00Z");
    const shares = createFairShare(redis, { max: 1, now: () => now });
    await redis.hset("asu:builds:old", "timestamp", "1");
    await redis.hset("asu:builds:new", "timestamp", "1");
    expect((await shares.admit("203.0.113.5", "old")).admitted).toBe(true);
    expect((await shares.admit("203.0.113.5", "new")).admitted).toBe(false);
    now += PENDING_KEEP_SECONDS * 1000 + 1;
    expect((await shares.admit("203.0.113.5", "new")).admitted).toBe(true);
  });
});
