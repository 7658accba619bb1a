import { createApiApp } from "@asu/http";
import type { BuildResult } from "@asu/queue";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  ARCHER,
  BUILD_ROUTE_SETTINGS,
  type BuildRouteStand,
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
  registerBuildRoutes(app, {
    catalog: stand.catalog().catalog,
    queue: stand.queue,
    redis: stand.redis,
    settings: {
      ...BUILD_ROUTE_SETTINGS,
      max_pending_jobs: maxPendingJobs,
      max_pending_per_client: share,
      trusted_proxies: ["127.0.0.1/32", "::1"],
    },
  });
  served = await serveApp(app);
  return served.url;
}

/** A distinct build per `n`: the requested root file system size changes its hash. */
async function post(url: string, n: number, client?: string) {
  const res = await fetch(`${url}/api/v1/build`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(client ? { "x-forwarded-for": client } : {}),
    },
    body: JSON.stringify({ ...ARCHER, rootfs_size_mb: 100 + n }),
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
