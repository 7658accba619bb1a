import { Worker } from "bullmq";
import { describe, expect, it } from "vitest";
import { queueOnOwnRedis } from "../../../test/support/queue-on-own-redis.ts";
import { bareJobData } from "./fixtures/job-data.ts";
import { BUILD_QUEUE, KEY_PREFIX } from "./job-data.ts";
import { waitingBuilds } from "./waiting-builds.ts";

const stand = queueOnOwnRedis();

describe("waitingBuilds", () => {
  it("counts the builds no worker has taken yet, not the one being built", async () => {
    expect(await waitingBuilds(stand.redis)).toBe(0);
    for (const hash of ["a", "b", "c"]) await stand.queue.enqueue(bareJobData(hash));
    expect(await waitingBuilds(stand.redis)).toBe(3);

    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const worker = new Worker(
      BUILD_QUEUE,
      async () => {
        await held;
        return { bin_dir: "x", manifest: {} };
      },
      { connection: stand.client(), prefix: KEY_PREFIX, concurrency: 1 },
    );
    try {
      await expect.poll(() => waitingBuilds(stand.redis), { timeout: 20_000 }).toBe(2);
      expect(await stand.queue.waitingCount()).toBe(2);
    } finally {
      release();
      await worker.close(true);
    }
  });
});
