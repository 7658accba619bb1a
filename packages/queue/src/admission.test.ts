import { Worker } from "bullmq";
import { describe, expect, it } from "vitest";
import { type QueueOnOwnRedis, queueOnOwnRedis } from "../../../test/support/queue-on-own-redis.ts";
import { buildQueueAdapter, PENDING_KEY_PREFIX } from "./build-queue.ts";
import { bareJobData } from "./fixtures/job-data.ts";
import { BUILD_QUEUE, KEY_PREFIX, PREBUILD_PRIORITY } from "./job-data.ts";
import { enqueuePrebuild } from "./prebuilds.ts";

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
});

const client = (name: string, maxPerClient = 20, maxPending = 1000) => ({
  client: name,
  maxPending,
  maxPerClient,
});

/** The prioritized set's members in the order workers take them. */
const order = (stand: QueueOnOwnRedis) =>
  stand.redis.zrange(buildQueueAdapter(stand.redis).keys.prioritized, 0, -1);

describe("a client's share", () => {
  it("admits exactly the share of 100 concurrent distinct builds of one client", async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        stand.queue.enqueueWithin(bareJobData(`h${i}`), client("198.51.100.1")),
      ),
    );
    expect(outcomes.filter((outcome) => outcome.enqueued)).toHaveLength(20);
    for (const outcome of outcomes) {
      if (!outcome.enqueued) expect(outcome).toMatchObject({ refused: "client-full", waiting: 20 });
    }
    expect(await stand.redis.zcard(`${PENDING_KEY_PREFIX}198.51.100.1`)).toBe(20);
    expect(
      (await stand.queue.enqueueWithin(bareJobData("x"), client("198.51.100.2"))).enqueued,
    ).toBe(true);
  });

  it("counts a build until a worker takes it, and forgets removed ones", async () => {
    for (const hash of ["a", "b"])
      await stand.queue.enqueueWithin(bareJobData(hash), client("c", 2));
    expect(await stand.queue.enqueueWithin(bareJobData("c"), client("c", 2))).toMatchObject({
      enqueued: false,
      refused: "client-full",
    });
    const worker = stand.holdingWorker();
    try {
      await expect
        .poll(async () => (await stand.queue.snapshot("a"))?.state, { timeout: 20_000 })
        .toBe("active");
      expect((await stand.queue.enqueueWithin(bareJobData("c"), client("c", 2))).enqueued).toBe(
        true,
      );
      await stand.queue.queue.remove("c");
      expect((await stand.queue.enqueueWithin(bareJobData("d"), client("c", 2))).enqueued).toBe(
        true,
      );
      expect(await stand.redis.zrange(`${PENDING_KEY_PREFIX}c`, 0, -1)).toEqual(["b", "d"]);
    } finally {
      await worker.close();
    }
  });

  it("never counts prebuilds, and places them after every user's build", async () => {
    const prebuild = { client: undefined, maxPending: 2, maxPerClient: 0, prebuild: true };
    for (const hash of ["p1", "p2", "p3"]) {
      expect((await stand.queue.enqueueWithin(bareJobData(hash), prebuild)).enqueued).toBe(true);
    }
    expect((await stand.queue.enqueueWithin(bareJobData("u1"), client("a", 20, 2))).enqueued).toBe(
      true,
    );
    expect((await stand.queue.enqueueWithin(bareJobData("u2"), client("b", 20, 2))).enqueued).toBe(
      true,
    );
    expect(await stand.queue.enqueueWithin(bareJobData("u3"), client("c", 20, 2))).toMatchObject({
      enqueued: false,
      refused: "queue-full",
      waiting: 2,
    });
    expect(await order(stand)).toEqual(["u1", "u2", "p1", "p2", "p3"]);
    expect((await stand.queue.snapshot("p1"))?.position).toBe(2);
    expect(await stand.queue.depth()).toEqual({ waiting: 5, userWaiting: 2, active: 0 });
  });
});

describe("fair turns", () => {
  it("interleaves clients by turn, not by arrival", async () => {
    for (let i = 1; i <= 4; i++) await stand.queue.enqueueWithin(bareJobData(`a${i}`), client("a"));
    for (let i = 1; i <= 2; i++) await stand.queue.enqueueWithin(bareJobData(`b${i}`), client("b"));
    await stand.queue.enqueueWithin(bareJobData("c1"), client("c"));
    expect(await order(stand)).toEqual(["a1", "b1", "c1", "a2", "b2", "a3", "a4"]);
    const positions = await Promise.all(
      ["a1", "b1", "c1", "a2", "b2", "a3", "a4"].map(
        async (hash) => (await stand.queue.snapshot(hash))?.position,
      ),
    );
    expect(positions).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it("lets a late client take turns from the head of a draining queue, not before nor behind it", async () => {
    for (let i = 1; i <= 6; i++) await stand.queue.enqueueWithin(bareJobData(`a${i}`), client("a"));
    const worker = stand.holdingWorker(3);
    try {
      await expect
        .poll(async () => (await stand.queue.depth()).active, { timeout: 20_000 })
        .toBe(3);
      for (let i = 1; i <= 2; i++)
        await stand.queue.enqueueWithin(bareJobData(`b${i}`), client("b"));
      expect(await order(stand)).toEqual(["a4", "b1", "a5", "b2", "a6"]);
    } finally {
      await worker.close();
    }
  });

  it("keeps the turn being served when a job comes back with an old turn", async () => {
    for (let i = 1; i <= 4; i++) await stand.queue.enqueueWithin(bareJobData(`a${i}`), client("a"));
    const worker = stand.holdingWorker(2);
    try {
      await expect
        .poll(async () => (await stand.queue.depth()).active, { timeout: 20_000 })
        .toBe(2);
      await stand.queue.enqueueWithin(bareJobData("b1"), client("b"));
      // A retried build keeps its priority: here, the first turn.
      await stand.queue.queue.add("build", bareJobData("old"), { jobId: "old", priority: 1 });
      await stand.queue.enqueueWithin(bareJobData("c1"), client("c"));
      expect(await order(stand)).toEqual(["old", "a3", "b1", "c1", "a4"]);
    } finally {
      await worker.close();
    }
  });

  it("starts again from the first turn once the queue is empty", async () => {
    await stand.queue.enqueueWithin(bareJobData("a1"), client("a"));
    await stand.queue.enqueueWithin(bareJobData("a2"), client("a"));
    await stand.queue.queue.remove("a1");
    await stand.queue.queue.remove("a2");
    await stand.queue.enqueueWithin(bareJobData("a3"), client("a"));
    expect((await stand.queue.queue.getJob("a3"))?.opts.priority).toBe(1);
  });
});

describe("a user asking for a waiting prebuild", () => {
  const priorityOf = async (hash: string) =>
    Number(await stand.redis.hget(buildQueueAdapter(stand.redis).keys.job(hash), "priority"));

  it("promotes it to that client's turn, counted in its share, and a worker takes it there", async () => {
    for (const hash of ["p1", "p2"]) await enqueuePrebuild(stand.queue, bareJobData(hash));
    for (let i = 1; i <= 3; i++) await stand.queue.enqueueWithin(bareJobData(`a${i}`), client("a"));
    expect((await stand.queue.snapshot("p2"))?.prebuildLane).toBe(true);
    const asked = await stand.queue.enqueueWithin(bareJobData("p2"), client("b"));
    expect(asked).toMatchObject({ enqueued: true, promoted: true, snapshot: { position: 1 } });
    if (asked.enqueued) expect(asked.snapshot.prebuildLane).toBeUndefined();
    expect(await order(stand)).toEqual(["a1", "p2", "a2", "a3", "p1"]);
    expect(await priorityOf("p2")).toBe(1);
    expect(await stand.redis.zrange(`${PENDING_KEY_PREFIX}b`, 0, -1)).toEqual(["p2"]);
    // Still counted as enqueued as a prebuild.
    expect((await stand.queue.queue.getJob("p2"))?.data.prebuild).toBe(true);
    // A second user finds it already promoted: answered where it is.
    expect(await stand.queue.enqueueWithin(bareJobData("p2"), client("c"))).toMatchObject({
      enqueued: true,
      snapshot: { position: 1 },
    });
    expect(await stand.redis.zcard(`${PENDING_KEY_PREFIX}c`)).toBe(0);

    const started: string[] = [];
    const worker = new Worker(
      BUILD_QUEUE,
      async (job) => {
        started.push(job.id ?? "");
        return { bin_dir: "x", manifest: {} };
      },
      { connection: stand.client(), prefix: KEY_PREFIX, concurrency: 1 },
    );
    try {
      await expect.poll(() => started.length, { timeout: 20_000 }).toBe(5);
      expect(started).toEqual(["a1", "p2", "a2", "a3", "p1"]);
    } finally {
      await worker.close();
    }
  });

  it("leaves it where it is when the client has its share or the queue is full", async () => {
    await enqueuePrebuild(stand.queue, bareJobData("p"));
    await stand.queue.enqueueWithin(bareJobData("b1"), client("b", 1, 2));
    expect(await stand.queue.enqueueWithin(bareJobData("p"), client("b", 1, 2))).toMatchObject({
      enqueued: true,
      snapshot: { position: 1, prebuildLane: true },
    });
    await stand.queue.enqueueWithin(bareJobData("a1"), client("a", 1, 2));
    expect(await stand.queue.enqueueWithin(bareJobData("p"), client("c", 1, 2))).toMatchObject({
      enqueued: true,
      snapshot: { position: 2, prebuildLane: true },
    });
    expect(await order(stand)).toEqual(["b1", "a1", "p"]);
    expect(await priorityOf("p")).toBe(PREBUILD_PRIORITY);
    expect(await stand.redis.zcard(`${PENDING_KEY_PREFIX}c`)).toBe(0);
  });

  it("answers a prebuild being built as it is", async () => {
    await enqueuePrebuild(stand.queue, bareJobData("p"));
    const worker = stand.holdingWorker();
    try {
      await expect
        .poll(async () => (await stand.queue.snapshot("p"))?.state, { timeout: 20_000 })
        .toBe("active");
      const asked = await stand.queue.enqueueWithin(bareJobData("p"), client("b"));
      expect(asked).toMatchObject({ enqueued: true, snapshot: { state: "active" } });
      expect("promoted" in asked).toBe(false);
      expect(await priorityOf("p")).toBe(PREBUILD_PRIORITY);
      expect(await stand.redis.zcard(`${PENDING_KEY_PREFIX}b`)).toBe(0);
    } finally {
      await worker.close();
    }
  });
});
