import {
  BUILD_QUEUE,
  type BuildQueue,
  createBuildQueue,
  KEY_PREFIX,
  WORKER_LOCK_SETTINGS,
} from "@asu/queue";
import { Worker } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bareJobData } from "../../../packages/queue/src/fixtures/job-data.ts";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.ts";
import { buildAnswer } from "./build-answer.ts";

let redisServer: RedisServer;
let redis: Redis;
let workerConnection: Redis;
let queue: BuildQueue;
let worker: Worker;

beforeAll(async () => {
  redisServer = await startRedisServer();
  redis = redisServer.client();
  workerConnection = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  queue = createBuildQueue({ connection: redis });
  // No processor: the test takes and finishes jobs itself, as a worker does.
  worker = new Worker(BUILD_QUEUE, null, {
    connection: workerConnection,
    prefix: KEY_PREFIX,
    ...WORKER_LOCK_SETTINGS,
  });
  await worker.waitUntilReady();
});

afterAll(async () => {
  await worker?.close();
  workerConnection?.disconnect();
  await queue?.close();
  redis?.disconnect();
  await redisServer?.stop().catch(() => {});
});

/**
 * A client polling GET /api/v1/build/{hash} in a tight loop: what it saw, in
 * order, until the build was done, and when it first saw it started.
 */
function poll(requestHash: string) {
  let sawStarted: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    sawStarted = resolve;
  });
  const done = (async () => {
    const seen: string[] = [];
    for (;;) {
      const snapshot = await queue.snapshot(requestHash);
      const detail = snapshot ? String(buildAnswer(snapshot).body.detail) : "none";
      if (seen.at(-1) !== detail) seen.push(detail);
      if (detail === "started") sawStarted();
      if (detail === "done") return seen;
    }
  })();
  return { started, done };
}

describe("polling a build while its worker finishes it", () => {
  it("never answers queued again once the build started", async () => {
    const rounds = 25;
    for (let round = 0; round < rounds; round++) {
      const requestHash = round.toString(16).padStart(64, "a");
      await queue.enqueue(bareJobData(requestHash));
      const token = `token-${round}`;
      const job = await worker.getNextJob(token);
      expect(job?.id).toBe(requestHash);
      await job!.updateProgress({ imagebuilder_status: "building_image" });

      // Several clients poll in tight loops while the job moves active → completed.
      const polls = [poll(requestHash), poll(requestHash), poll(requestHash)];
      await Promise.all(polls.map((client) => client.started));
      await job!.moveToCompleted({ bin_dir: requestHash, manifest: {} }, token, false);
      for (const seen of await Promise.all(polls.map((client) => client.done))) {
        expect(seen, `round ${round}`).toEqual(["started", "done"]);
      }
    }
  }, 60_000);
});
