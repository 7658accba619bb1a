import { describe, expect, it } from "vitest";
import { queueOnOwnRedis } from "../../../test/support/queue-on-own-redis.ts";
import { RESERVATIONS_KEY } from "./admission.ts";
import { bareJobData } from "./fixtures/job-data.ts";

const stand = queueOnOwnRedis();

describe("enqueueWithin", () => {
  it("admits at most the limit of 300 concurrent distinct builds", async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 300 }, (_, i) => stand.queue.enqueueWithin(bareJobData(`h${i}`), 50)),
    );
    expect(outcomes.filter((outcome) => outcome.enqueued)).toHaveLength(50);
    expect(await stand.queue.waitingCount()).toBe(50);
    for (const outcome of outcomes) {
      if (!outcome.enqueued) expect(outcome.waiting).toBeGreaterThanOrEqual(50);
    }
    expect(await stand.redis.zcard(RESERVATIONS_KEY)).toBe(0);
  });

  it("makes one job of concurrent identical requests, even at the limit's edge", async () => {
    await Promise.all(
      Array.from({ length: 49 }, (_, i) => stand.queue.enqueueWithin(bareJobData(`h${i}`), 50)),
    );
    const outcomes = await Promise.all(
      Array.from({ length: 30 }, () => stand.queue.enqueueWithin(bareJobData("same"), 50)),
    );
    expect(outcomes.every((outcome) => outcome.enqueued)).toBe(true);
    expect(await stand.queue.waitingCount()).toBe(50);
    expect((await stand.queue.enqueueWithin(bareJobData("other"), 50)).enqueued).toBe(false);
  });

  it("forgets a reservation its tier left behind", async () => {
    await stand.redis.zadd(RESERVATIONS_KEY, Date.now() - 60_000, "abandoned");
    expect((await stand.queue.enqueueWithin(bareJobData("fresh"), 1)).enqueued).toBe(true);
  });
});
