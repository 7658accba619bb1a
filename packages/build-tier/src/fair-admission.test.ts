import { createApiApp } from "@asu/http";
import {
  type BuildResult,
  buildQueueAdapter,
  enqueuePrebuild,
  PENDING_KEY_PREFIX,
  PREBUILD_PRIORITY,
} from "@asu/queue";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  ARCHER,
  BUILD_ROUTE_SETTINGS,
  type BuildRouteStand,
  buildRouteDeps,
  startBuildRouteStand,
} from "../../../test/support/build-route-stand.ts";
import { type ServedApp, serveApp } from "../../../test/support/serve-app.ts";
import { silentLogger } from "../../../test/support/silent-logger.ts";
import { registerBuildRoutes } from "./build-routes.ts";

/*
 * Admission and fair turns over real HTTP, with the real build routes on a
 * real Redis. The tier trusts loopback as a proxy, so X-Forwarded-For names
 * the clients; without it the client is the loopback address itself.
 */

const SHARE = 20;
let stand: BuildRouteStand;
let served: ServedApp | undefined;

beforeAll(async () => {
  stand = await startBuildRouteStand();
});
beforeEach(async () => {
  await stand.redis.flushdb();
});
afterEach(async () => {
  await stand.closeWorkers();
  await served?.close();
  served = undefined;
});
afterAll(async () => {
  await stand?.stop();
});

async function serveTier(maxPendingJobs: number, share = SHARE) {
  const app = createApiApp({ title: "build", version: "0", logger: silentLogger("fair") });
  registerBuildRoutes(
    app,
    buildRouteDeps(stand, {
      ...BUILD_ROUTE_SETTINGS,
      max_pending_jobs: maxPendingJobs,
      max_pending_per_client: share,
      trusted_proxies: ["127.0.0.1/32", "::1"],
    }),
  );
  served = await serveApp(app);
  return served.url;
}

/** A distinct build per `n`: the requested root file system size changes its hash. */
async function post(url: string, n: number, client?: string, indent?: number) {
  const res = await fetch(`${url}/api/v1/build`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(client ? { "x-forwarded-for": client } : {}),
    },
    // Indented, the body is one the tier has not seen: it is parsed and hashed again.
    body: JSON.stringify({ ...ARCHER, rootfs_size_mb: 100 + n }, null, indent),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

const poll = async (url: string, hash: string) =>
  (await (await fetch(`${url}/api/v1/build/${hash}`)).json()) as any;

describe("admission under a burst", () => {
  it("accepts exactly a client's share of 100 concurrent distinct builds from one address", async () => {
    const url = await serveTier(1000);
    const answers = await Promise.all(Array.from({ length: 100 }, (_, n) => post(url, n)));
    expect(answers.filter((a) => a.status === 202)).toHaveLength(SHARE);
    const refused = answers.filter((a) => a.status !== 202);
    expect(refused).toHaveLength(100 - SHARE);
    for (const answer of refused) {
      expect(answer.status).toBe(429);
      expect(Number(answer.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(answer.body.detail).toMatch(
        /too many builds of this client waiting: 20 \(at most 20\)/,
      );
    }
    expect(await stand.queue.waitingCount()).toBe(SHARE);
  });

  it("accepts exactly MAX_PENDING_JOBS of 100 concurrent builds from 100 addresses", async () => {
    const url = await serveTier(50);
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, n) => post(url, n, `198.51.100.${n + 1}`)),
    );
    expect(answers.filter((a) => a.status === 202)).toHaveLength(50);
    for (const answer of answers.filter((a) => a.status !== 202)) {
      expect(answer.status).toBe(529);
      expect(answer.body.detail).toBe(
        "server overload, queue contains too many build requests: 50",
      );
    }
    expect(await stand.queue.waitingCount()).toBe(50);
  });

  it("makes one job of identical concurrent requests", async () => {
    const url = await serveTier(1000);
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, n) => post(url, 7, `203.0.113.${n + 1}`)),
    );
    expect(answers.every((a) => a.status === 202)).toBe(true);
    expect(new Set(answers.map((a) => a.body.request_hash)).size).toBe(1);
    expect(await stand.queue.waitingCount()).toBe(1);
  });
});

describe("fair turns", () => {
  it("starts a late client's builds within a turn of each client, in the order polls said", async () => {
    const url = await serveTier(1000, 50);
    const flood: string[] = [];
    for (let n = 0; n < 40; n++) flood.push((await post(url, n, "198.51.100.1")).body.request_hash);
    const late: string[] = [];
    for (let n = 100; n < 103; n++)
      late.push((await post(url, n, "203.0.113.9")).body.request_hash);
    const all = [...flood, ...late];
    const positions = new Map<string, number>();
    for (const hash of all) positions.set(hash, (await poll(url, hash)).queue_position);
    const reported = [...all].sort((a, b) => (positions.get(a) ?? 0) - (positions.get(b) ?? 0));
    // Two clients take turns: the late one's builds wait one of the flood's each, not 40.
    expect(late.map((hash) => positions.get(hash))).toEqual([1, 3, 5]);

    const started: string[] = [];
    stand.worker(async (job): Promise<BuildResult> => {
      started.push(job.id ?? "");
      return { bin_dir: "x", manifest: {} };
    });
    await expect.poll(() => started.length, { timeout: 30_000 }).toBe(all.length);
    expect(started).toEqual(reported);
  });
});

describe("a user's POST for a hash waiting as a prebuild", () => {
  /** The hash of build `n`, waiting as a release-day prebuild (its job data as a POST makes it). */
  async function prebuild(url: string, n: number): Promise<string> {
    const hash = (await post(url, n, "192.0.2.200")).body.request_hash as string;
    const job = await stand.queue.queue.getJob(hash);
    if (!job) throw new Error(`no job for ${hash}`);
    await job.remove();
    await enqueuePrebuild(stand.queue, job.data);
    return hash;
  }
  const priorityOf = async (hash: string) =>
    Number(await stand.redis.hget(buildQueueAdapter(stand.redis).keys.job(hash), "priority"));

  it("promotes it to that user's turn: its position is among users' builds, and it is taken there", async () => {
    const url = await serveTier(1000);
    const wave = await prebuild(url, 50);
    const other = await prebuild(url, 51);
    const flood: string[] = [];
    for (let n = 0; n < 4; n++) flood.push((await post(url, n, "198.51.100.1")).body.request_hash);
    expect((await poll(url, wave)).queue_position).toBe(4);

    const asked = await post(url, 50, "203.0.113.9", 1);
    expect(asked.status).toBe(202);
    expect(asked.body.request_hash).toBe(wave);
    expect(asked.body.queue_position).toBe(1);
    expect((await poll(url, wave)).queue_position).toBe(1);
    expect(await priorityOf(wave)).toBe(1);
    expect(await stand.redis.zrange(`${PENDING_KEY_PREFIX}203.0.113.9`, 0, -1)).toEqual([wave]);
    expect((await stand.queue.queue.getJob(wave))?.data.prebuild).toBe(true);
    // A body seen before (answered from its hash) is promoted as well.
    const again = await post(url, 51, "203.0.113.10");
    expect(again.body).toMatchObject({ request_hash: other, queue_position: 2 });

    const started: string[] = [];
    stand.worker(async (job): Promise<BuildResult> => {
      started.push(job.id ?? "");
      return { bin_dir: "x", manifest: {} };
    });
    await expect.poll(() => started.length, { timeout: 30_000 }).toBe(6);
    expect(started).toEqual([flood[0], wave, other, flood[1], flood[2], flood[3]]);
  });

  it("answers it where it is (202, not 429 nor 529) when the user has its share or the queue is full", async () => {
    const url = await serveTier(2, 1);
    const wave = await prebuild(url, 50);
    expect((await post(url, 0, "198.51.100.1")).status).toBe(202);
    const overShare = await post(url, 50, "198.51.100.1", 1);
    expect(overShare.status).toBe(202);
    expect(overShare.body.queue_position).toBe(1);
    expect((await post(url, 1, "198.51.100.2")).status).toBe(202);
    const queueFull = await post(url, 50, "198.51.100.3");
    expect(queueFull.status).toBe(202);
    expect(queueFull.body.queue_position).toBe(2);
    expect(await priorityOf(wave)).toBe(PREBUILD_PRIORITY);
  });

  it("answers a prebuild being built, or built, as it is", async () => {
    const url = await serveTier(1000);
    const wave = await prebuild(url, 50);
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    stand.worker(async (): Promise<BuildResult> => {
      await held;
      return { bin_dir: "x", manifest: {} };
    });
    await expect
      .poll(async () => (await poll(url, wave)).detail, { timeout: 30_000 })
      .toBe("started");
    const building = await post(url, 50, "203.0.113.9");
    expect(building).toMatchObject({ status: 202, body: { detail: "started" } });
    release();
    await expect.poll(async () => (await poll(url, wave)).status, { timeout: 30_000 }).toBe(200);
    expect((await post(url, 50, "203.0.113.9")).status).toBe(200);
    expect(await priorityOf(wave)).toBe(PREBUILD_PRIORITY);
    expect(await stand.redis.zcard(`${PENDING_KEY_PREFIX}203.0.113.9`)).toBe(0);
  });
});
