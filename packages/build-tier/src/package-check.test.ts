import { createApiApp } from "@asu/http";
import { metricsRegistry } from "@asu/observability";
import { DEFAULT_BRANCHES } from "@asu/openwrt-releases";
import { type BuildQueue, readRefusedBuild, storeRefusedBuild } from "@asu/queue";
import { createStatsRecorder, ERROR_LOG_KEY } from "@asu/stats";
import { createPackageIndexes } from "@asu/upstream";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  ARCHER,
  BUILD_ROUTE_SETTINGS,
  type BuildRouteStand,
  buildRouteDeps,
  callJson,
  startBuildRouteStand,
} from "../../../test/support/build-route-stand.ts";
import type { FakeUpstream } from "../../../test/support/fake-upstream.ts";
import { type ServedApp, serveApp } from "../../../test/support/serve-app.ts";
import { silentLogger } from "../../../test/support/silent-logger.ts";
import { refusedBuildMetrics } from "./build-metrics.ts";
import { registerBuildRoutes } from "./build-routes.ts";
import { createEtaSource } from "./eta-source.ts";
import { createPackageCheck } from "./package-check.ts";

/*
 * The check before the queue, over the fake upstream's 24.10.0 and snapshot
 * indexes and a real Redis: what it refuses, what it stores, and what it lets through.
 */

const silent = silentLogger("package-check-test");

const settings = {
  ...BUILD_ROUTE_SETTINGS,
  repository_allow_list: ["https://feed.invalid/"],
  build_ttl: 604_800,
  build_ttl_unversioned: 86_400,
  build_defaults_ttl: 1800,
  server_stats: true,
};

let stand: BuildRouteStand;
let redis: Redis;
let upstream: FakeUpstream;
let queue: BuildQueue;
let served: ServedApp;

beforeAll(async () => {
  stand = await startBuildRouteStand();
  ({ redis, upstream, queue } = stand);
  // The fixture's feeds.conf names telephony: publish it, so every index can be read.
  upstream.addFile(
    "releases/24.10.0/packages/mips_24kc/telephony/Packages",
    "Package: asterisk\nVersion: 20.11.0-r1\nArchitecture: mips_24kc\n",
  );
  // The fixture's snapshot ath79/generic has apk indexes but is not in its .targets.json.
  upstream.addFile(
    "snapshots/.targets.json",
    JSON.stringify({ "testtarget/testsubtarget": "testarch", "ath79/generic": "mips_24kc" }),
  );
});

beforeEach(async () => {
  await redis.flushdb();
  const { client, catalog } = stand.catalog();
  const indexes = createPackageIndexes({ client, branches: DEFAULT_BRANCHES });
  const app = createApiApp({ title: "build", version: "0", logger: silent });
  const stats = createStatsRecorder(redis, { enabled: true });
  const packageCheck = createPackageCheck({
    indexes,
    redis,
    stats,
    onRefused: refusedBuildMetrics(metricsRegistry(app)).refused.inc,
  });
  const eta = createEtaSource({ queue, redis });
  registerBuildRoutes(
    app,
    buildRouteDeps(stand, settings, { catalog, client, stats, packageCheck, eta, logger: silent }),
  );
  served = await serveApp(app);
});

afterEach(async () => {
  await served?.close();
});

afterAll(async () => {
  await stand?.stop();
});

const call = (method: string, path: string, body?: unknown) =>
  callJson(served.url, method, path, body);

describe("the package check in POST /api/v1/build", () => {
  it("fails a missing package at once and stores the failure for polls", async () => {
    const request = { ...ARCHER, packages: ["luci", "nope", "also-nope"] };
    const failed = await call("POST", "/api/v1/build", request);
    expect(failed.status).toBe(500);
    expect(failed.res.headers.get("x-imagebuilder-status")).toBe("failed");
    expect(failed.body).toMatchObject({
      status: 500,
      detail: "Error: Impossible package selection: missing (also-nope, nope)",
      imagebuilder_status: "failed",
      request: { ...request, profile: "tplink_archer-c7-v5" },
    });
    expect(failed.body.stdout).toContain("no ImageBuilder ran");
    expect(failed.body.stderr).toContain(
      `${upstream.url}/releases/24.10.0/targets/ath79/generic/kmods/6.6.73-1-2974fbe1fa59be88f13eb8abeac8c10b/Packages`,
    );
    const hash = failed.body.request_hash;
    expect(await queue.queue.getJob(hash)).toBeUndefined();

    const polled = await call("GET", `/api/v1/build/${hash}`);
    expect(polled.status).toBe(500);
    expect(polled.body).toEqual(failed.body);

    // Kept for BUILD_FAILURE_TTL, in the error log and the statistics.
    const ttl = await redis.pttl(`asu:refused:${hash}`);
    expect(ttl).toBeGreaterThan(3_500_000);
    expect(ttl).toBeLessThanOrEqual(3_600_000);
    const log = await redis.lrange(ERROR_LOG_KEY, 0, -1);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatch(
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d 24\.10\.0:ath79\/generic:tplink_archer-c7-v5 \[request\] Error: Impossible package selection: missing \(also-nope, nope\)$/,
    );
    const day = new Date().toISOString().slice(0, 10);
    expect(await redis.hget(`asu:stats:event:${day}`, "failures")).toBe("1");
    const metrics = await (await fetch(`${served.url}/metrics`)).text();
    expect(metrics).toContain("asu_build_failed_before_queue_total 1");
  });

  it("checks the list the worker builds: server-side rules unless skipped", async () => {
    // auc becomes owut on 24.10, which the index has.
    const legacy = await call("POST", "/api/v1/build", { ...ARCHER, packages: ["luci", "auc"] });
    expect(legacy.status).toBe(202);
    const prepared = await call("POST", "/api/v1/build?skip_package_resolution=true", {
      ...ARCHER,
      packages: ["luci", "auc"],
    });
    expect(prepared.status).toBe(500);
    expect(prepared.body.detail).toBe("Error: Impossible package selection: missing (auc)");
  });

  it("accepts ABI-suffixed names, kernel modules and removals", async () => {
    const queued = await call("POST", "/api/v1/build", {
      ...ARCHER,
      packages: ["luci", "libubox20240329", "libubox", "kmod-usb2", "-ppp", "-no-such"],
    });
    expect(queued.status).toBe(202);
  });

  it("fails a release pin the index contradicts, and takes one it has", async () => {
    const wrong = await call("POST", "/api/v1/build", {
      ...ARCHER,
      packages_versions: { tcpdump: "4.99.4-r1" },
    });
    expect(wrong.status).toBe(500);
    expect(wrong.body.detail).toBe(
      "Error: Impossible package selection: tcpdump version not as requested: 4.99.4-r1 vs. 4.99.5-r1",
    );
    const right = await call("POST", "/api/v1/build", {
      ...ARCHER,
      packages_versions: { tcpdump: "4.99.5-r1" },
    });
    expect(right.status).toBe(202);
  });

  it("does not compare pins for snapshots", async () => {
    const queued = await call("POST", "/api/v1/build", {
      version: "SNAPSHOT",
      target: "ath79/generic",
      profile: "8dev_carambola2",
      packages_versions: { tcpdump: "0.1-r1" },
    });
    expect(queued.status).toBe(202);
  });

  it("fails a missing package of an apk snapshot, but not what apk may provide", async () => {
    const snapshot = {
      version: "SNAPSHOT",
      target: "ath79/generic",
      profile: "8dev_carambola2",
    };
    const failed = await call("POST", "/api/v1/build", { ...snapshot, packages: ["nope"] });
    expect(failed.status).toBe(500);
    const virtual = await call("POST", "/api/v1/build", {
      ...snapshot,
      // so:, cmd: and pc: names cannot pass the request schema; these are the other virtuals.
      packages: ["wpad-basic", "libubox20250120"],
    });
    expect(virtual.status).toBe(202);
  });

  it("never refuses while a custom repository cannot be read", async () => {
    const queued = await call("POST", "/api/v1/build", {
      ...ARCHER,
      packages: ["only-in-my-feed"],
      repositories: { mine: "https://feed.invalid/packages" },
    });
    expect(queued.status).toBe(202);
  });

  it("never refuses while an upstream index cannot be read", async () => {
    upstream.removeFile("releases/24.10.0/packages/mips_24kc/telephony/Packages");
    try {
      const queued = await call("POST", "/api/v1/build", { ...ARCHER, packages: ["asterisk2"] });
      expect(queued.status).toBe(202);
    } finally {
      upstream.addFile(
        "releases/24.10.0/packages/mips_24kc/telephony/Packages",
        "Package: asterisk\nVersion: 20.11.0-r1\nArchitecture: mips_24kc\n",
      );
    }
  });
});

describe("stored failures", () => {
  it("keep at most their bound, dropping the oldest", async () => {
    const refused = (hash: string, timestamp: number) => ({
      data: {
        request: { ...ARCHER } as any,
        requestHash: hash,
        packages: [],
        image: "i",
        versionPath: "releases/24.10.0",
        snapshot: false,
        resultTtl: 60,
        failureTtl: 60,
      },
      progress: { imagebuilder_status: "failed" as const, detail: "Error: x" },
      timestamp,
    });
    const now = Date.now();
    for (const [index, hash] of ["a", "b", "c"].entries()) {
      await storeRefusedBuild(redis, refused(hash, now + index), { max: 2 });
    }
    expect(await readRefusedBuild(redis, "a")).toBeUndefined();
    expect(await readRefusedBuild(redis, "b")).toMatchObject({ state: "failed" });
    expect(await readRefusedBuild(redis, "c")).toMatchObject({ state: "failed" });
  });
});
