import { describe, expect, it } from "vitest";
import { queueOnOwnRedis } from "../../../test/support/queue-on-own-redis.ts";
import { bareJobData } from "./fixtures/job-data.ts";
import { queueDepth, slotTakesNext } from "./queue-depth.ts";

const stand = queueOnOwnRedis();

describe("queueDepth", () => {
  it("counts the builds no worker has taken yet apart from those being built", async () => {
    expect(await queueDepth(stand.redis)).toEqual({ waiting: 0, active: 0 });
    for (const hash of ["a", "b", "c"]) await stand.queue.enqueue(bareJobData(hash));
    expect(await queueDepth(stand.redis)).toEqual({ waiting: 3, active: 0 });

    const worker = stand.holdingWorker();
    try {
      await expect
        .poll(() => queueDepth(stand.redis), { timeout: 20_000 })
        .toEqual({ waiting: 2, active: 1 });
      expect(await stand.queue.waitingCount()).toBe(2);
    } finally {
      await worker.close();
    }
  });

  it("says a slot takes a waiting build next while one waits for every build running", () => {
    expect(slotTakesNext({ waiting: 0, active: 1 })).toBe(false);
    expect(slotTakesNext({ waiting: 1, active: 1 })).toBe(true);
    // Two builds, one waiting: the other slot may well finish first.
    expect(slotTakesNext({ waiting: 1, active: 2 })).toBe(false);
    expect(slotTakesNext({ waiting: 2, active: 2 })).toBe(true);
    expect(slotTakesNext({ waiting: 6, active: 2 })).toBe(true);
    expect(slotTakesNext({ waiting: 0, active: 0 })).toBe(false);
  });
});
