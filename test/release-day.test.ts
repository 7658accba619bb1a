import { buildRequestSchema } from "@asu/contract";
import { type ApiApp, createApiApp } from "@asu/http";
import { metricsRegistry } from "@asu/observability";
import { type BuildJobData, type BuildResult, PREBUILD_PRIORITY } from "@asu/queue";
import { createPopularRequests, type PopularRequests, popularCandidate } from "@asu/stats";
import type { Job } from "bullmq";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { registerBuildRoutes } from "../packages/build-tier/src/build-routes.ts";
import {
  createReleaseWatcher,
  type ReleaseWatcher,
} from "../packages/build-tier/src/release-watcher.ts";
import {
  ARCHER,
  BUILD_ROUTE_SETTINGS,
  type BuildRouteStand,
  buildRouteDeps,
  startBuildRouteStand,
} from "./support/build-route-stand.ts";
import { announceRelease, unannounceRelease } from "./support/release-announcement.ts";
import { type ServedApp, serveApp } from "./support/serve-app.ts";
import { silentLogger } from "./support/silent-logger.ts";

/*
 * Release day over real HTTP, a real Redis, the fake upstream and BullMQ
 * workers whose processor stands in for the ImageBuilder: old LuCI pages see
 * the five stages they know, popular requests are remembered, a new release
 * in `.versions.json` is noticed once by two build tiers, its popular
 * requests are built before routers ask, and never ahead of a user's build.
 */

const LUCI_23_05 = "luci/git-23.236.53281-98e3743";
const LUCI_CURRENT = "luci/25.168.50434~d6b13f6";
const settings = {
  ...BUILD_ROUTE_SETTINGS,
  max_pending_jobs: 20,
  trusted_proxies: ["127.0.0.1/32", "::1"],
  release_prebuilds: 5,
};
const RESULT: BuildResult = { images: [], bin_dir: "", manifest: {} };

let stand: BuildRouteStand;
const tiers: Tier[] = [];

interface Tier {
  app: ApiApp;
  served: ServedApp;
  popular: PopularRequests;
  watcher: ReleaseWatcher;
}

async function startTier(
  overrides: Partial<typeof settings> & { max_pending_per_client?: number } = {},
): Promise<Tier> {
  const tierSettings = { ...settings, ...overrides };
  const { client, catalog } = stand.catalog();
  const app = createApiApp({ title: "build", version: "0", logger: silentLogger("release-day") });
  const popular = createPopularRequests(stand.redis, { limit: settings.release_prebuilds });
  registerBuildRoutes(app, buildRouteDeps(stand, tierSettings, { catalog, client, popular }));
  const watcher = createReleaseWatcher({
    redis: stand.redis,
    client,
    catalog,
    queue: stand.queue,
    popular,
    settings: tierSettings,
    registry: metricsRegistry(app),
  });
  const tier = { app, served: await serveApp(app), popular, watcher };
  tiers.push(tier);
  return tier;
}

async function post(tier: Tier, body: unknown, client = "198.51.100.1") {
  const res = await fetch(`${tier.served.url}/api/v1/build`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": client },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

async function poll(tier: Tier, hash: string, method = "GET", client = "198.51.100.1") {
  const res = await fetch(`${tier.served.url}/api/v1/build/${hash}`, {
    method,
    headers: { "x-forwarded-for": client },
  });
  return {
    status: res.status,
    header: res.headers.get("x-imagebuilder-status"),
    body: method === "HEAD" ? undefined : ((await res.json()) as any),
  };
}

const SETTLED = { timeout: 15_000, interval: 50 };

beforeAll(async () => {
  stand = await startBuildRouteStand();
});

beforeEach(async () => {
  await stand.redis.flushdb();
  unannounceRelease(stand.upstream, "24.10.1");
});

afterEach(async () => {
  await stand.closeWorkers();
  for (const tier of tiers.splice(0)) await tier.served.close();
});

afterAll(async () => {
  await stand?.stop();
});

describe("an old LuCI's page", () => {
  it("sees only the five stages it knows, on POST, GET and HEAD, for every requester of the hash", async () => {
    const tier = await startTier();
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const old = await post(tier, { ...ARCHER, client: LUCI_23_05 });
    expect(old.status).toBe(202);
    expect(old.body.queue_position).toBe(0);
    expect(old.body.imagebuilder_status).toBe("init");
    expect(old.headers.get("x-imagebuilder-status")).toBe("init");
    // A current LuCI asks for another build first: it gets the full set ...
    const other = { ...ARCHER, packages: ["luci", "curl"] };
    const current = await post(tier, { ...other, client: LUCI_CURRENT });
    expect(current.body.imagebuilder_status).toBe("queued");

    stand.worker(async (job) => {
      await job.updateProgress({ imagebuilder_status: "validate_manifest" });
      await gate;
      return RESULT;
    });
    const hash = old.body.request_hash;
    await expect.poll(async () => (await poll(tier, hash)).body.detail, SETTLED).toBe("started");
    const running = await poll(tier, hash);
    expect(running.body.imagebuilder_status).toBe("calculate_packages_hash");
    expect(running.header).toBe("calculate_packages_hash");
    expect((await poll(tier, hash, "HEAD")).header).toBe("calculate_packages_hash");
    // A current LuCI asking for the old one's build sees the five too.
    const joined = await post(tier, { ...ARCHER, client: LUCI_CURRENT });
    expect(joined.body.imagebuilder_status).toBe("calculate_packages_hash");

    // ... until an old LuCI asks for it too: from then on every poll answers the five.
    const currentHash = current.body.request_hash;
    expect((await poll(tier, currentHash)).body.imagebuilder_status).toBe("queued");
    const late = await post(tier, { ...other, client: LUCI_23_05 });
    expect(late.body.imagebuilder_status).toBe("init");
    expect((await poll(tier, currentHash)).header).toBe("init");
    release();
    await expect.poll(async () => (await poll(tier, currentHash)).status, SETTLED).toBe(200);
  });

  it("is not what other clients see", async () => {
    const tier = await startTier();
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    stand.worker(async (job) => {
      await job.updateProgress({ imagebuilder_status: "validate_revision" });
      await gate;
      return RESULT;
    });
    const answer = await post(tier, { ...ARCHER, client: LUCI_CURRENT });
    const hash = answer.body.request_hash;
    await expect
      .poll(async () => (await poll(tier, hash)).header, SETTLED)
      .toBe("validate_revision");
    release();
  });
});

/** Three routers ask for one request and one for another; all built, then asked again (hits). */
async function dayOfRequests(tier: Tier) {
  const popularOne = { ...ARCHER, packages: ["luci", "auc"] };
  const lessOne = { ...ARCHER, packages: ["luci", "curl"] };
  const asks = [
    [popularOne, "198.51.100.1"],
    [popularOne, "198.51.100.2"],
    [popularOne, "198.51.100.3"],
    [lessOne, "198.51.100.4"],
  ] as const;
  const polls: [string, string][] = [];
  for (const [body, client] of asks)
    polls.push([(await post(tier, body, client)).body.request_hash, client]);
  // Each router polls its build until it is done.
  for (const [hash, client] of polls) {
    await expect
      .poll(async () => (await poll(tier, hash, "GET", client)).status, SETTLED)
      .toBe(200);
  }
  for (const [body, client] of asks) expect((await post(tier, body, client)).status).toBe(200);
  await tier.popular.flush();
  return { popularOne, lessOne };
}

describe("release day", () => {
  it("remembers popular requests, notices a new release once across two tiers, and has its first wave built", async () => {
    const [one, two] = [await startTier(), await startTier()];
    // First run: what exists is recorded, nothing is built.
    expect(await Promise.all([one.watcher.check(), two.watcher.check()])).toEqual([[], []]);
    const built: Job<BuildJobData>[] = [];
    stand.worker(async (job) => {
      built.push(job);
      return RESULT;
    });
    const { popularOne } = await dayOfRequests(one);

    const stats = (await (await fetch(`${two.served.url}/api/v1/stats`)).json()) as any;
    expect(stats.queue_length).toBe(0);
    expect(stats.popular_requests).toEqual([
      expect.objectContaining({
        model: "tplink_archer-c7-v5",
        version: "24.10.0",
        packages: 2,
        clients: 3,
      }),
      expect.objectContaining({ packages: 2, clients: 1 }),
    ]);

    announceRelease(stand.upstream, "24.10.1");
    const noticed = await Promise.all([one.watcher.check(), two.watcher.check()]);
    expect(noticed.flat()).toEqual(["24.10.1"]);
    expect(await Promise.all([one.watcher.check(), two.watcher.check()])).toEqual([[], []]);

    await expect.poll(() => built.filter((job) => job.data.prebuild).length, SETTLED).toBe(2);
    const prebuilt = built.filter((job) => job.data.prebuild);
    expect(prebuilt.every((job) => job.opts.priority === PREBUILD_PRIORITY)).toBe(true);
    expect(prebuilt.map((job) => job.data.request.client)).toEqual([
      "asu/prebuild",
      "asu/prebuild",
    ]);
    await expect
      .poll(async () => {
        await one.watcher.settle();
        const text = await metricsRegistry(one.app).metrics();
        return /asu_release_prebuilds_total\{state="succeeded"\} 2/.test(text) ? "counted" : text;
      }, SETTLED)
      .toBe("counted");

    // A router asking afterwards: built already.
    const router = await post(
      two,
      { ...popularOne, version: "24.10.1", client: LUCI_23_05 },
      "203.0.113.9",
    );
    expect(router.status).toBe(200);
    expect(prebuilt.map((job) => job.id)).toContain(router.body.request_hash);
  });

  it("never lets a user's build wait behind a prebuild", async () => {
    // One place for users' builds: the prebuilds waiting must not take it.
    const tier = await startTier({ max_pending_jobs: 1, max_pending_per_client: 1 });
    await tier.watcher.check();
    // Remembered requests, as if built and asked for on earlier days.
    const schema = buildRequestSchema(settings);
    for (const packages of [["luci"], ["luci", "curl"], ["luci", "nano"]]) {
      const request = schema.parse({ ...ARCHER, profile: "tplink_archer-c7-v5", packages });
      const candidate = popularCandidate(request, {
        skipPackageResolution: false,
        branch: "24.10",
      });
      if (!candidate) throw new Error("not a candidate");
      tier.popular.asked(candidate, "198.51.100.1", true);
    }
    await tier.popular.flush();
    announceRelease(stand.upstream, "24.10.1");
    expect(await tier.watcher.check()).toEqual(["24.10.1"]);
    expect(await stand.queue.queue.getPrioritizedCount()).toBe(3);

    // Prebuilds never count against MAX_PENDING_JOBS or any share: a user's build is queued.
    const user = await post(tier, { ...ARCHER, packages: ["luci", "tcpdump"] });
    expect(user.status).toBe(202);
    const order: string[] = [];
    stand.worker(async (job) => {
      order.push(job.data.prebuild ? "prebuild" : "user");
      return RESULT;
    });
    await expect.poll(() => order.length, SETTLED).toBe(4);
    expect(order[0]).toBe("user");
  });
});
