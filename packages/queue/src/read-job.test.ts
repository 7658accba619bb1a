import { describe, expect, it } from "vitest";
import { queueOnOwnRedis } from "../../../test/support/queue-on-own-redis.ts";
import { bareJobData } from "./fixtures/job-data.ts";
import { BUILD_QUEUE, KEY_PREFIX } from "./job-data.ts";
import { readJob } from "./read-job.ts";

const PREFIX = `${KEY_PREFIX}:${BUILD_QUEUE}:`;

const stand = queueOnOwnRedis();

describe("readJob", () => {
  it("reads nothing for an unknown id, and nothing for a hash left without a state", async () => {
    expect(await readJob(stand.redis, PREFIX, "none")).toBeUndefined();
    await stand.redis.hset(`${PREFIX}orphan`, "data", "{}");
    expect(await readJob(stand.redis, PREFIX, "orphan")).toBeUndefined();
  });

  it("reads a waiting job's fields as BullMQ stored them, and its place in the wait list", async () => {
    for (const hash of ["a", "b", "c"])
      await stand.queue.enqueue({ ...bareJobData(hash), packages: [hash] });
    const read = await readJob(stand.redis, PREFIX, "b");
    expect(read).toMatchObject({ state: "waiting", locked: false, position: 1 });
    expect(read?.raw).toEqual(await stand.redis.hgetall(`${PREFIX}b`));
    expect((await readJob(stand.redis, PREFIX, "a"))?.position).toBe(0);
    expect((await readJob(stand.redis, PREFIX, "c"))?.position).toBe(2);
  });

  it("reads a running job as active with its worker's lock, and no place", async () => {
    await stand.queue.enqueue({ ...bareJobData("run"), packages: ["luci"] });
    const worker = stand.holdingWorker();
    try {
      await expect
        .poll(() => readJob(stand.redis, PREFIX, "run"), { timeout: 20_000 })
        .toMatchObject({ state: "active", locked: true, position: undefined });
      // A lock that expired with its worker.
      await stand.redis.del(`${PREFIX}run:lock`);
      expect(await readJob(stand.redis, PREFIX, "run")).toMatchObject({
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
    expect(await readJob(stand.redis, PREFIX, "done")).toMatchObject({ state: "completed" });
    await stand.redis.zrem(`${PREFIX}completed`, "done");
    await stand.redis.rpush(`${PREFIX}paused`, "done");
    expect(await readJob(stand.redis, PREFIX, "done")).toMatchObject({
      state: "waiting",
      position: undefined,
    });
  });

  it("teaches the script to a Redis that forgot it", async () => {
    await stand.queue.enqueue({ ...bareJobData("x"), packages: ["luci"] });
    await stand.redis.script("FLUSH");
    expect(await readJob(stand.redis, PREFIX, "x")).toMatchObject({
      state: "waiting",
      position: 0,
    });
    expect(await readJob(stand.redis, PREFIX, "x")).toMatchObject({
      state: "waiting",
      position: 0,
    });
  });
});
