import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApiApp } from "@asu/http";
import { metricsRegistry, metricsText } from "@asu/observability";
import { createLocalStore, type LocalStore } from "@asu/store";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  ARCHER,
  BUILD_ROUTE_SETTINGS,
  type BuildRouteStand,
  buildRouteDeps,
  callJson,
  startBuildRouteStand,
} from "../../../test/support/build-route-stand.ts";
import { type ServedApp, serveApp } from "../../../test/support/serve-app.ts";
import { silentLogger } from "../../../test/support/silent-logger.ts";
import {
  createBuildCacheLookup,
  registerBuildCacheRoute,
} from "../../build-tier/src/build-cache-route.ts";
import { registerBuildRoutes } from "../../build-tier/src/build-routes.ts";
import {
  createCompletedHashesReader,
  registerCompletedHashesRoute,
} from "../../build-tier/src/completed-hashes-route.ts";
import {
  type BuildCacheProbe,
  type BuildCacheProbeOptions,
  createBuildCacheProbe,
  registerMirrorMetric,
} from "./build-cache-probe.ts";

/*
 * The probe's mirror against a real build tier: its build, build-cache and
 * completed-list routes on a real Redis, over real HTTP. The app counts the
 * requests it answers, and can be told to refuse the list (404, a build tier
 * from before it; 503, a failing one) or hold its answers.
 */

const COMPLETED = "/api/v1/build-cache/completed";

let stand: BuildRouteStand;
let store: LocalStore;
let served: ServedApp;
let completedKey: string;
let asks: number;
let lists: string[];
let listAnswer: 200 | 404 | 503;
let holdLists: Promise<void> | undefined;
let holdFullReads: Promise<void> | undefined;
const probes: BuildCacheProbe[] = [];
const app = createApiApp({ title: "build", version: "0", logger: silentLogger("mirror-test") });

app.use("*", async (c, next) => {
  if (c.req.method === "POST" && c.req.path === "/api/v1/build-cache") asks++;
  if (c.req.method === "GET" && c.req.path === COMPLETED) {
    lists.push(new URL(c.req.url).search);
    await holdLists;
    if (listAnswer !== 200) return c.json({ detail: "Not Found" }, listAnswer);
    if (!c.req.query("after")) {
      // A full read's page, read from Redis now and sent when let go.
      await next();
      await holdFullReads;
      return;
    }
  }
  return next();
});

beforeAll(async () => {
  stand = await startBuildRouteStand();
  const { queue, redis } = stand;
  completedKey = queue.queue.keys.completed as string;
  store = createLocalStore(await mkdtemp(join(tmpdir(), "asu-mirror-")), { presenceTtlMs: 0 });
  registerBuildRoutes(app, buildRouteDeps(stand, BUILD_ROUTE_SETTINGS, { store }));
  registerBuildCacheRoute(app, { queue, redis, store });
  registerCompletedHashesRoute(app, { queue, redis });
  served = await serveApp(app);
});

beforeEach(async () => {
  asks = 0;
  lists = [];
  listAnswer = 200;
  holdLists = undefined;
  holdFullReads = undefined;
  await stand.redis.del(completedKey);
});

afterEach(async () => {
  await Promise.all(probes.splice(0).map((probe) => probe.close?.()));
  await stand.closeWorkers();
});

afterAll(async () => {
  await served?.close();
  await stand?.stop();
  if (store) await rm(join(store.root, ".."), { recursive: true, force: true });
});

const hash = (n: number) => n.toString(16).padStart(8, "0").repeat(8);

function probeWith(mirror: BuildCacheProbeOptions["mirror"] = {}, options = {}) {
  const probe = createBuildCacheProbe({
    buildApiUrl: served.url,
    buildInternalUrl: served.url,
    // Answers are awaited in full: a loaded machine may be slow.
    answerWithinMs: 60_000,
    mirror: { syncEveryMs: 50, ...mirror },
    ...options,
  });
  probes.push(probe);
  return probe;
}

/** Whether the probe answered `requestHash` without asking the build tier. */
async function answeredWithoutAsking(probe: BuildCacheProbe, requestHash: string) {
  const before = asks;
  const built = await probe(requestHash);
  return { built, asked: asks > before };
}

describe("the build-cache probe's mirror of finished builds", () => {
  it("answers a hash never built without asking, and asks about one it holds", async () => {
    await stand.redis.zadd(completedKey, Date.now(), hash(1));
    const probe = probeWith();
    await expect.poll(() => probe.mirror?.()?.hashes).toBe(1);
    // The first read is of the whole list.
    expect(lists[0]).toBe(`?limit=10000`);

    expect(await answeredWithoutAsking(probe, hash(2))).toEqual({ built: false, asked: false });
    // Listed is not built: this one has no job, which the build tier tells when asked.
    expect(await answeredWithoutAsking(probe, hash(1))).toEqual({ built: false, asked: true });
    // Not a request hash: asked, as without the mirror.
    expect((await answeredWithoutAsking(probe, "not-a-hash")).asked).toBe(true);
  });

  it("reads what finished since, from a little before the newest finish time", async () => {
    const start = Date.now();
    await stand.redis.zadd(completedKey, start, hash(1));
    const probe = probeWith({ overlapMs: 30_000 });
    await expect.poll(() => probe.mirror?.()?.hashes).toBe(1);
    // A later build, and one stamped by a worker whose clock lags 10 s.
    await stand.redis.zadd(completedKey, start + 5, hash(2), start - 10_000, hash(3));
    await expect.poll(() => probe.mirror?.()?.hashes).toBe(3);
    // From then on, each sync starts 30 s before the newest.
    await expect.poll(() => lists).toContain(`?limit=10000&after=${start + 5 - 30_000}%3A0`);
    expect(await answeredWithoutAsking(probe, hash(3))).toMatchObject({ asked: true });
  });

  it("makes a build finished after it started true within a sync", async () => {
    const probe = probeWith();
    await expect.poll(() => probe.mirror?.()?.hashes).toBe(0);
    const posted = await callJson(served.url, "POST", "/api/v1/build", ARCHER);
    const requestHash: string = posted.body.request_hash;
    expect(await answeredWithoutAsking(probe, requestHash)).toEqual({
      built: false,
      asked: false,
    });
    stand.worker(async (job) => {
      const dir = await mkdtemp(join(tmpdir(), "asu-mirror-work-"));
      await writeFile(join(dir, "image.bin"), "image");
      await store.save(job.data.requestHash, dir);
      return { bin_dir: job.data.requestHash, manifest: {}, images: [{ name: "image.bin" }] };
    });
    await expect.poll(() => probe(requestHash), { timeout: 20_000 }).toBe(true);
  }, 40_000);

  it("forgets a hash the build tier dropped at its next full read", async () => {
    await stand.redis.zadd(completedKey, Date.now(), hash(1), Date.now(), hash(2));
    const probe = probeWith({ resyncEveryMs: 200 });
    await expect.poll(() => probe.mirror?.()?.hashes).toBe(2);
    await stand.redis.zrem(completedKey, hash(1));
    await expect.poll(() => probe.mirror?.()?.hashes).toBe(1);
    expect(await answeredWithoutAsking(probe, hash(1))).toEqual({ built: false, asked: false });
    expect(lists.filter((query) => query === "?limit=10000").length).toBeGreaterThan(1);
  });

  it("stays fresh through a slow full read, and keeps what finished meanwhile", async () => {
    await stand.redis.zadd(completedKey, Date.now(), hash(1));
    const probe = probeWith({ resyncEveryMs: 300, freshForMs: 200 });
    await expect.poll(() => probe.mirror?.()?.hashes).toBe(1);
    let release = () => {};
    holdFullReads = new Promise((resolve) => {
      release = resolve;
    });
    const fullReads = () => lists.filter((query) => query === "?limit=10000").length;
    const before = fullReads();
    await expect.poll(fullReads, { timeout: 10_000 }).toBe(before + 1);
    // Read from Redis before this build finished, held back while it finishes.
    await stand.redis.zadd(completedKey, Date.now(), hash(2));
    await expect.poll(() => probe.mirror?.()?.hashes).toBe(2);
    // Longer than freshForMs: the syncs keep it fresh, the full read is still held.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(fullReads()).toBe(before + 1);
    expect(probe.mirror?.()?.fresh).toBe(true);
    expect(await answeredWithoutAsking(probe, hash(3))).toEqual({ built: false, asked: false });
    release();
    holdFullReads = undefined;
    // The mirror the held read makes has the build it missed: never 1 from here on.
    const sizes = new Set<number | undefined>();
    while (fullReads() <= before + 1) {
      sizes.add(probe.mirror?.()?.hashes);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect([...sizes]).toEqual([2]);
    expect(await answeredWithoutAsking(probe, hash(2))).toMatchObject({ asked: true });
  });

  it("reads the list page by page", async () => {
    await stand.redis.zadd(completedKey, 1, hash(1), 1, hash(2), 1, hash(3), 2, hash(4));
    const probe = probeWith({ pageSize: 2 });
    await expect.poll(() => probe.mirror?.()?.hashes).toBe(4);
    expect(lists.slice(0, 2)).toEqual(["?limit=2", "?limit=2&after=1%3A2"]);
  });

  it("asks about every hash while the list cannot be read, and rules out again once it can", async () => {
    await stand.redis.zadd(completedKey, Date.now(), hash(1));
    const probe = probeWith({ freshForMs: 200 });
    await expect.poll(() => probe.mirror?.()?.hashes).toBe(1);
    listAnswer = 503;
    await expect.poll(async () => (await answeredWithoutAsking(probe, hash(2))).asked).toBe(true);
    listAnswer = 200;
    await expect.poll(async () => (await answeredWithoutAsking(probe, hash(3))).asked).toBe(false);
  });

  it("asks about every hash when the build tier is down", async () => {
    // Nothing listens there: the list is never read, and each answer is false.
    const probe = createBuildCacheProbe({
      buildApiUrl: "http://127.0.0.1:1",
      buildInternalUrl: "http://127.0.0.1:1",
      mirror: { syncEveryMs: 20 },
    });
    probes.push(probe);
    expect(await probe(hash(1))).toBe(false);
    expect(probe.mirror?.()?.hashes).toBeUndefined();
  });

  it("asks about every hash of a build tier without the list (404)", async () => {
    listAnswer = 404;
    const probe = probeWith();
    await expect.poll(() => lists.length).toBeGreaterThan(0);
    expect(await answeredWithoutAsking(probe, hash(2))).toEqual({ built: false, asked: true });
    expect(probe.mirror?.()?.hashes).toBeUndefined();
    // Not asked again every sync: only at the next full read.
    const listed = lists.length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(lists.length).toBe(listed);
  });

  it("holds at most maxHashes, asking about every hash past that", async () => {
    await stand.redis.zadd(completedKey, 1, hash(1), 2, hash(2), 3, hash(3));
    const probe = probeWith({ maxHashes: 2, pageSize: 1 });
    await expect.poll(() => lists.length).toBeGreaterThanOrEqual(3);
    expect(probe.mirror?.()?.hashes).toBeUndefined();
    expect(await answeredWithoutAsking(probe, hash(4))).toEqual({ built: false, asked: true });
  });

  it("works through a build tier in the same process, called directly", async () => {
    await stand.redis.zadd(completedKey, Date.now(), hash(1));
    const { queue, redis } = stand;
    const lookup = createBuildCacheLookup({ queue, redis, store });
    const probe = probeWith(
      {},
      {
        buildApiUrl: undefined,
        buildInternalUrl: undefined,
        inProcess: {
          lookup: (hashes: readonly string[]) => {
            asks++;
            return lookup(hashes);
          },
          completedPage: createCompletedHashesReader({ queue, redis }),
        },
      },
    );
    await expect.poll(() => probe.mirror?.()?.hashes).toBe(1);
    expect(await answeredWithoutAsking(probe, hash(2))).toEqual({ built: false, asked: false });
    expect(await answeredWithoutAsking(probe, hash(1))).toEqual({ built: false, asked: true });
  });

  it("tells its size and state on /metrics", async () => {
    await stand.redis.zadd(completedKey, Date.now(), hash(1), Date.now(), hash(2));
    const owner = {};
    const gauge = async () =>
      (await metricsText(metricsRegistry(owner)))
        .split("\n")
        .filter((line) => line.startsWith("asu_build_cache_mirror_hashes{"));
    listAnswer = 404;
    const probe = probeWith({ freshForMs: 200, resyncEveryMs: 100 });
    registerMirrorMetric(owner, probe);
    await expect.poll(() => lists.length).toBeGreaterThan(0);
    expect(await gauge()).toEqual(['asu_build_cache_mirror_hashes{state="off"} 0']);
    listAnswer = 200;
    await expect.poll(gauge).toEqual(['asu_build_cache_mirror_hashes{state="fresh"} 2']);
    listAnswer = 503;
    await expect.poll(gauge).toEqual(['asu_build_cache_mirror_hashes{state="stale"} 2']);
  });

  it("leaves nothing running after close(), even with a read out", async () => {
    let release = () => {};
    holdLists = new Promise((resolve) => {
      release = resolve;
    });
    const probe = probeWith({ syncEveryMs: 10 });
    await expect.poll(() => lists.length).toBe(1);
    // Returns although the build tier has not answered the read.
    await probe.close?.();
    release();
    holdLists = undefined;
    // Many sync intervals: none reads again.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(lists.length).toBe(1);
    expect(probe.mirror?.()?.hashes).toBeUndefined();
  });
});
