import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Queue, Worker } from "bullmq";
import { describe, expect, it } from "vitest";
import { queueOnOwnRedis } from "../../../test/support/queue-on-own-redis.ts";
import { buildQueueAdapter } from "./build-queue.ts";
import { BULLMQ_VERSION_WRITTEN_FOR, PRIORITY_SCORE_FACTOR } from "./bullmq-adapter.ts";
import { bareJobData } from "./fixtures/job-data.ts";
import { BUILD_QUEUE, KEY_PREFIX, PREBUILD_PRIORITY } from "./job-data.ts";

/*
 * The adapter's facts about BullMQ, checked against the installed BullMQ:
 * its version, its key names, its job hash, the prioritized set's score and
 * the order a worker takes jobs in. When an upgrade changes one, a test here
 * says which; re-read BullMQ's scripts (addPrioritizedJob, changePriority,
 * fetchNextJob, getState) and update bullmq-adapter.ts before changing the pin.
 */

const stand = queueOnOwnRedis();
const adapter = () => buildQueueAdapter(stand.redis);

function installedVersion(): string {
  const require = createRequire(import.meta.url);
  const main = require.resolve("bullmq");
  let dir = dirname(main);
  while (!dir.endsWith("bullmq")) dir = dirname(dir);
  return JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).version;
}

describe("the BullMQ the adapter was written for", () => {
  it("is the installed one", () => {
    expect(
      installedVersion(),
      `bullmq-adapter.ts was written for BullMQ ${BULLMQ_VERSION_WRITTEN_FOR}: check its key layout, job hash and priority score against the installed BullMQ, then update BULLMQ_VERSION_WRITTEN_FOR`,
    ).toBe(BULLMQ_VERSION_WRITTEN_FOR);
  });

  it("keeps a prioritized job under the adapter's key names, scored priority × 2^32 + counter", async () => {
    const queue = new Queue(BUILD_QUEUE, { connection: stand.client(), prefix: KEY_PREFIX });
    try {
      await queue.add("build", { n: 1 }, { jobId: "p5", priority: 5 });
      await queue.add("build", { n: 2 }, { jobId: "p3", priority: 3 });
      await queue.add("build", { n: 3 }, { jobId: "plain" });
      const { keys } = adapter();
      for (const [name, key] of Object.entries({
        job: keys.job("p5"),
        prioritized: keys.prioritized,
        wait: keys.wait,
        meta: keys.meta,
        id: keys.id,
        priorityCounter: keys.priorityCounter,
        marker: keys.marker,
        events: keys.events,
      })) {
        expect(await stand.redis.exists(key), `BullMQ no longer writes ${name} at ${key}`).toBe(1);
      }
      const score = Number(await stand.redis.zscore(keys.prioritized, "p5"));
      expect(
        Math.floor(score / PRIORITY_SCORE_FACTOR),
        "the prioritized set's score no longer encodes the priority as priority × 2^32 + counter",
      ).toBe(5);
      expect(await stand.redis.lrange(keys.wait, 0, -1)).toEqual(["plain"]);
      // BullMQ's own reading of the order agrees with the adapter's positions.
      expect((await adapter().read("plain"))?.position).toBe(0);
      expect((await adapter().read("p3"))?.position).toBe(1);
      expect((await adapter().read("p5"))?.position).toBe(2);
      expect(await queue.getJobState("p5")).toBe("prioritized");
      expect((await adapter().read("p5"))?.state).toBe("prioritized");
    } finally {
      await queue.close();
    }
  });
});

describe("a job the adapter adds", () => {
  it("is stored as BullMQ's own add stores the same job", async () => {
    const queue = new Queue(BUILD_QUEUE, { connection: stand.client(), prefix: KEY_PREFIX });
    try {
      const opts = {
        attempts: 3,
        backoff: { type: "exponential" as const, delay: 30_000 },
        removeOnComplete: false,
        removeOnFail: false,
      };
      const data = bareJobData("ours");
      await adapter().admitAndEnqueue(
        { id: "ours", name: "build", data, opts },
        { client: "a", maxPending: 1000, maxPerClient: 0 },
      );
      await queue.add("build", data, { ...opts, jobId: "theirs", priority: 1 });
      const { keys } = adapter();
      const ours = await stand.redis.hgetall(keys.job("ours"));
      const theirs = await stand.redis.hgetall(keys.job("theirs"));
      const { opts: ourOpts, timestamp: _a, ...ourFields } = ours;
      const { opts: theirOpts, timestamp: _b, ...theirFields } = theirs;
      expect(ourFields, "BullMQ's job hash has other fields now").toEqual(theirFields);
      expect(JSON.parse(ourOpts ?? "")).toEqual({ ...JSON.parse(theirOpts ?? ""), jobId: "ours" });
      expect(Object.keys(ours).sort()).toEqual(Object.keys(theirs).sort());
      const job = await queue.getJob("ours");
      expect(job).toMatchObject({ data, opts: { ...opts, priority: 1, jobId: "ours" } });
      expect(await queue.getJobState("ours")).toBe("prioritized");
      expect(await queue.getPrioritized()).toHaveLength(2);
    } finally {
      await queue.close();
    }
  });

  it("when a waiting prebuild is promoted, is left as BullMQ's changePriority leaves the same job", async () => {
    const queue = new Queue(BUILD_QUEUE, { connection: stand.client(), prefix: KEY_PREFIX });
    try {
      for (const id of ["ours", "theirs"]) {
        await queue.add("build", bareJobData(id), { jobId: id, priority: PREBUILD_PRIORITY });
      }
      const outcome = await adapter().admitAndEnqueue(
        { id: "ours", name: "build", data: bareJobData("ours"), opts: {} },
        { client: "a", maxPending: 1000, maxPerClient: 0 },
      );
      expect(outcome.outcome).toBe("promoted");
      await (await queue.getJob("theirs"))?.changePriority({ priority: 1 });
      const { keys } = adapter();
      const ours = await stand.redis.hgetall(keys.job("ours"));
      const theirs = await stand.redis.hgetall(keys.job("theirs"));
      // The hash's priority field moves; opts keep the priority the job was added with.
      const fields = ({ timestamp: _, data: __, opts, ...rest }: Record<string, string>) => ({
        ...rest,
        opts: { ...JSON.parse(opts ?? ""), jobId: undefined },
      });
      expect(fields(ours), "changePriority now writes other job fields").toEqual(fields(theirs));
      const scores = await stand.redis.zrange(keys.prioritized, 0, -1, "WITHSCORES");
      expect(scores.filter((_, i) => i % 2 === 0)).toEqual(["ours", "theirs"]);
      for (const score of scores.filter((_, i) => i % 2 === 1)) {
        expect(Math.floor(Number(score) / PRIORITY_SCORE_FACTOR)).toBe(1);
      }
      expect((await queue.getJob("ours"))?.priority).toBe(1);
      expect(await queue.getJobState("ours")).toBe("prioritized");
    } finally {
      await queue.close();
    }
  });

  it("is taken by a worker in the order its positions said, and read in each state as BullMQ says", async () => {
    const hashes = ["a1", "a2", "b1", "c1", "b2"];
    const clients = ["a", "a", "b", "c", "b"];
    for (const [i, hash] of hashes.entries()) {
      await adapter().admitAndEnqueue(
        { id: hash, name: "build", data: bareJobData(hash), opts: {} },
        { client: clients[i], maxPending: 1000, maxPerClient: 0 },
      );
    }
    const positions = new Map<string, number | undefined>();
    for (const hash of hashes) positions.set(hash, (await adapter().read(hash))?.position);
    const byPosition = [...hashes].sort(
      (x, y) => (positions.get(x) ?? 0) - (positions.get(y) ?? 0),
    );
    expect(byPosition).toEqual(["a1", "b1", "c1", "a2", "b2"]);

    const started: string[] = [];
    const queue = new Queue(BUILD_QUEUE, { connection: stand.client(), prefix: KEY_PREFIX });
    const worker = new Worker(
      BUILD_QUEUE,
      async (job) => {
        started.push(job.id ?? "");
        expect((await adapter().read(job.id ?? ""))?.state).toBe(
          await queue.getJobState(job.id ?? ""),
        );
        return { bin_dir: "x", manifest: {} };
      },
      { connection: stand.client(), prefix: KEY_PREFIX, concurrency: 1 },
    );
    try {
      await expect.poll(() => started.length, { timeout: 20_000 }).toBe(hashes.length);
      expect(started, "a worker no longer takes prioritized jobs by score").toEqual(byPosition);
      await expect.poll(() => queue.getJobState("b2"), { timeout: 20_000 }).toBe("completed");
      expect((await adapter().read("b2"))?.state).toBe("completed");
    } finally {
      await worker.close();
      await queue.close();
    }
  });
});
