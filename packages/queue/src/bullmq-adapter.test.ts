import { describe, expect, it } from "vitest";
import { queueOnOwnRedis } from "../../../test/support/queue-on-own-redis.ts";
import { buildQueueAdapter } from "./build-queue.ts";
import { bareJobData } from "./fixtures/job-data.ts";
import { BUILD_QUEUE, KEY_PREFIX } from "./job-data.ts";

const PREFIX = `${KEY_PREFIX}:${BUILD_QUEUE}:`;

const stand = queueOnOwnRedis();

describe("read", () => {
  it("reads nothing for an unknown id, and nothing for a hash left without a state", async () => {
    expect(await buildQueueAdapter(stand.redis).read("none")).toBeUndefined();
    await stand.redis.hset(`${PREFIX}orphan`, "data", "{}");
    expect(await buildQueueAdapter(stand.redis).read("orphan")).toBeUndefined();
  });

  it("reads a waiting job's fields as BullMQ stored them, and its place in the wait list", async () => {
    for (const hash of ["a", "b", "c"])
      await stand.queue.enqueue({ ...bareJobData(hash), packages: [hash] });
    const read = await buildQueueAdapter(stand.redis).read("b");
    expect(read).toMatchObject({ state: "waiting", locked: false, position: 1 });
    expect(read?.raw).toEqual(await stand.redis.hgetall(`${PREFIX}b`));
    expect((await buildQueueAdapter(stand.redis).read("a"))?.position).toBe(0);
    expect((await buildQueueAdapter(stand.redis).read("c"))?.position).toBe(2);
  });

  it("reads a running job as active with its worker's lock, and no place", async () => {
    await stand.queue.enqueue({ ...bareJobData("run"), packages: ["luci"] });
    const worker = stand.holdingWorker();
    try {
      await expect
        .poll(() => buildQueueAdapter(stand.redis).read("run"), { timeout: 20_000 })
        .toMatchObject({ state: "active", locked: true, position: undefined });
      // A lock that expired with its worker.
      await stand.redis.del(`${PREFIX}run:lock`);
      expect(await buildQueueAdapter(stand.redis).read("run")).toMatchObject({
        state: "active",
        locked: false,
      });
    } finally {
      await worker.close();
    }
  });

  it("reads finished and paused jobs by where BullMQ keeps them", async () => {
    await stand.queue.enqueue({ ...bareJobData("done"), packages: ["luci"] });
    await stand.redis.lrem(`${PREFIX}wait`, 0, "done");
    await stand.redis.zadd(`${PREFIX}completed`, Date.now(), "done");
    expect(await buildQueueAdapter(stand.redis).read("done")).toMatchObject({ state: "completed" });
    await stand.redis.zrem(`${PREFIX}completed`, "done");
    await stand.redis.rpush(`${PREFIX}paused`, "done");
    expect(await buildQueueAdapter(stand.redis).read("done")).toMatchObject({
      state: "waiting",
      position: undefined,
    });
  });

  it("finds a job, or else another key's value and its time to live, in one script", async () => {
    const adapter = buildQueueAdapter(stand.redis);
    await stand.redis.set("asu:refused:gone", "stored", "PX", 60_000);
    const none = await adapter.find("gone", "asu:refused:gone");
    expect(none.job).toBeUndefined();
    if (none.job) throw new Error("found a job");
    expect(none.otherwise?.value).toBe("stored");
    expect(none.otherwise?.ttlMs).toBeGreaterThan(50_000);
    expect(await adapter.find("missing", "asu:refused:missing")).toEqual({
      job: undefined,
      otherwise: undefined,
    });
    await stand.queue.enqueue({ ...bareJobData("there"), packages: ["luci"] });
    expect((await adapter.find("there", "asu:refused:there")).job).toMatchObject({
      state: "waiting",
      position: 0,
    });
  });

  it("teaches the script to a Redis that forgot it", async () => {
    await stand.queue.enqueue({ ...bareJobData("x"), packages: ["luci"] });
    await stand.redis.script("FLUSH");
    expect(await buildQueueAdapter(stand.redis).read("x")).toMatchObject({
      state: "waiting",
      position: 0,
    });
    expect(await buildQueueAdapter(stand.redis).read("x")).toMatchObject({
      state: "waiting",
      position: 0,
    });
  });
});
