import { branchOf, DEFAULT_BRANCHES } from "@asu/openwrt-releases";
import { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.ts";
import {
  clientOf,
  createStatsRecorder,
  extraPackages,
  readBuildsByVersion,
  readBuildsPerDay,
  readStatsSummary,
  readTopPackages,
  recordStats,
} from "./build-stats.ts";

const DAY = 86_400_000;
// Today, so the keys written do not expire at once.
const TODAY = new Date().toISOString().slice(0, 10);
const NOW = Date.parse(`${TODAY}T10:30:00Z`);
const dayLabel = (daysAgo: number) =>
  `${new Date(NOW - daysAgo * DAY).toISOString().slice(0, 10)}Z`;
const branchOfVersion = (version: string) => branchOf(version, DEFAULT_BRANCHES);

let server: RedisServer;
let redis: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  redis = server.client();
});
afterAll(async () => {
  await server?.stop();
});
beforeEach(async () => {
  await redis.flushall();
});

describe("clientOf", () => {
  it("derives the client as the Python server does", () => {
    expect(clientOf("luci/git-22.073.39928-701ea94", "Mozilla/5.0")).toBe(
      "luci/git-22.073.39928-701ea94",
    );
    expect(clientOf(undefined, "auc (0.3.2)")).toBe("auc/0.3.2");
    expect(clientOf(null, "auc/0.3.2")).toBe("auc/0.3.2");
    expect(clientOf(undefined, "curl/8.0")).toBe("unknown/0");
    expect(clientOf(undefined, undefined)).toBe("unknown/0");
    expect(clientOf("x".repeat(500), undefined)).toHaveLength(100);
  });
});

describe("extraPackages", () => {
  it("leaves out defaults, profile packages, removals and repeats", () => {
    expect(
      extraPackages(
        ["base-files", "luci", "-ppp", "kmod-ath10k", "tcpdump", "luci"],
        ["base-files", "ppp"],
        ["kmod-ath10k"],
      ),
    ).toEqual(["luci", "tcpdump"]);
  });
});

describe("recording", () => {
  it("writes one hash per kind and day, expiring after the window that reads it", async () => {
    await recordStats(
      redis,
      [
        { kind: "event", event: "requests" },
        { kind: "event", event: "requests" },
        { kind: "client", client: "auc/0.3.2" },
        { kind: "build", version: "24.10.0" },
        { kind: "packages", branch: "24.10", packages: ["luci", "tcpdump"] },
        { kind: "stage", stage: "building_image", seconds: 1.5 },
      ],
      NOW,
    );
    expect(await redis.hgetall(`asu:stats:event:${TODAY}`)).toEqual({ requests: "2" });
    expect(await redis.hgetall(`asu:stats:client:${TODAY}`)).toEqual({ "auc/0.3.2": "1" });
    expect(await redis.hgetall(`asu:stats:build:${TODAY}`)).toEqual({ "24.10.0": "1" });
    expect(await redis.zrange(`asu:stats:packages:${TODAY}:24.10`, 0, -1)).toEqual([
      "luci",
      "tcpdump",
    ]);
    expect(await redis.hgetall(`asu:stats:stage:${TODAY}`)).toEqual({
      "building_image:count": "1",
      "building_image:seconds": "1.5",
    });
    const dayStart = Date.parse(`${TODAY}T00:00:00Z`) / 1000;
    expect(await redis.expiretime(`asu:stats:event:${TODAY}`)).toBe(dayStart + 32 * 86_400);
    expect(await redis.expiretime(`asu:stats:build:${TODAY}`)).toBe(dayStart + 184 * 86_400);
  });

  it("sums counts in memory and writes them within flushMs, in one pipeline", async () => {
    const recorder = createStatsRecorder(redis, { enabled: true, flushMs: 100 });
    // monitor() opens a connection of its own; a duplicate() before it would
    // open one more that nothing closes, reconnecting forever once Redis stops.
    const monitor = await redis.monitor();
    onTestFinished(() => monitor.disconnect());
    const commands: string[] = [];
    monitor.on("monitor", (_time: string, args: string[]) => commands.push(args.join(" ")));
    for (let index = 0; index < 50; index++) {
      recorder.record({ kind: "event", event: "requests" }, { kind: "client", client: "luci/1" });
    }
    recorder.record({ kind: "stage", stage: "building_image", seconds: 1.25 });
    expect(await redis.keys("asu:stats:*")).toEqual([]);
    const increments = () =>
      commands.filter((command) => /^(hincrby|hincrbyfloat|zincrby) /i.test(command));
    // The pipeline ends with each key's expiry: once the monitor has seen all
    // of them, it has seen every increment too.
    await expect
      .poll(async () => {
        const keys = await redis.keys("asu:stats:*");
        const expired = commands.filter((command) => /^expireat /i.test(command)).length;
        return keys.length > 0 && expired === keys.length;
      })
      .toBe(true);
    expect(await redis.hgetall(`asu:stats:event:${TODAY}`)).toEqual({ requests: "50" });
    expect(await redis.hgetall(`asu:stats:client:${TODAY}`)).toEqual({ "luci/1": "50" });
    expect(await redis.hget(`asu:stats:stage:${TODAY}`, "building_image:seconds")).toBe("1.25");
    // Four increments (requests, client, the stage's count and seconds), not one per request.
    expect(increments()).toHaveLength(4);
  });

  it("records nothing when SERVER_STATS is off", async () => {
    const recorder = createStatsRecorder(redis, { enabled: false });
    expect(recorder.enabled).toBe(false);
    recorder.record({ kind: "event", event: "requests" });
    await recorder.flush();
    expect(await redis.keys("asu:stats:*")).toEqual([]);
  });

  it("hands Redis failures to onError instead of rejecting", async () => {
    // Nothing listens on port 1: every command fails at once.
    const broken = new Redis("redis://127.0.0.1:1", {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    broken.on("error", () => {});
    const errors: Error[] = [];
    const recorder = createStatsRecorder(broken, {
      enabled: true,
      onError: (error) => errors.push(error),
    });
    recorder.record({ kind: "event", event: "requests" });
    await expect(recorder.flush()).resolves.toBeUndefined();
    expect(errors).toHaveLength(1);
  });
});

describe("reading", () => {
  async function recordOn(daysAgo: number, ...entries: Parameters<typeof recordStats>[1]) {
    await recordStats(redis, entries, NOW - daysAgo * DAY);
  }

  it("answers builds-per-day for the last 30 days in the Python server's shape", async () => {
    await recordOn(0, { kind: "event", event: "requests" }, { kind: "event", event: "cache-hits" });
    await recordOn(2, { kind: "event", event: "requests" }, { kind: "event", event: "failures" });
    await recordOn(40, { kind: "event", event: "requests" });

    const chart = await readBuildsPerDay(redis, NOW);
    expect(chart.labels).toHaveLength(30);
    expect(chart.labels[0]).toBe(dayLabel(29));
    expect(chart.labels[29]).toBe(dayLabel(0));
    expect(chart.datasets.map((set) => [set.label, set.color])).toEqual([
      ["Requests", "green"],
      ["Cache-Hits", "orange"],
      ["Failures", "red"],
    ]);
    const [requests, hits, failures] = chart.datasets.map((set) => set.data);
    expect(requests?.slice(27)).toEqual([1, 0, 1]);
    expect(requests?.reduce((a, b) => a + b)).toBe(2);
    expect(hits?.[29]).toBe(1);
    expect(failures?.[27]).toBe(1);
  });

  it("answers builds-by-version per branch, or per version of one branch, over 26 weeks", async () => {
    await recordOn(0, { kind: "build", version: "24.10.0" }, { kind: "build", version: "24.10.1" });
    await recordOn(
      1,
      { kind: "build", version: "23.05.5" },
      { kind: "build", version: "SNAPSHOT" },
    );
    await recordOn(10, { kind: "build", version: "24.10-SNAPSHOT" });

    const byBranch = await readBuildsByVersion(redis, { branchOf: branchOfVersion, now: NOW });
    expect(byBranch.labels).toHaveLength(26);
    expect(byBranch.labels[25]).toBe(dayLabel(6));
    expect(byBranch.datasets.map((set) => set.label)).toEqual(["23.05", "24.10", "SNAPSHOT"]);
    const branch2410 = byBranch.datasets.find((set) => set.label === "24.10")?.data;
    expect(branch2410?.[25]).toBe(2);
    expect(branch2410?.[24]).toBe(1);
    expect(branch2410?.reduce((a, b) => a + b)).toBe(3);

    const versions = await readBuildsByVersion(redis, {
      branch: "24.10",
      branchOf: branchOfVersion,
      now: NOW,
    });
    expect(versions.datasets.map((set) => set.label)).toEqual([
      "24.10-SNAPSHOT",
      "24.10.0",
      "24.10.1",
    ]);
  });

  it("answers the top extra packages of a branch or of all branches", async () => {
    await recordOn(0, { kind: "packages", branch: "24.10", packages: ["luci", "tcpdump"] });
    await recordOn(3, { kind: "packages", branch: "24.10", packages: ["luci"] });
    await recordOn(1, { kind: "packages", branch: "SNAPSHOT", packages: ["tcpdump", "htop"] });
    await recordOn(31, { kind: "packages", branch: "24.10", packages: ["old"] });

    expect(await readTopPackages(redis, { branch: "24.10", n: 10, now: NOW })).toEqual([
      { name: "luci", count: 2 },
      { name: "tcpdump", count: 1 },
    ]);
    expect(await readTopPackages(redis, { n: 2, now: NOW })).toEqual([
      { name: "luci", count: 2 },
      { name: "tcpdump", count: 2 },
    ]);
    expect(await readTopPackages(redis, { branch: "22.03", n: 5, now: NOW })).toEqual([]);
  });

  it("sums the summary over 30 days: events, clients, stage means", async () => {
    await recordOn(
      0,
      { kind: "event", event: "requests" },
      { kind: "event", event: "cache-misses" },
      { kind: "client", client: "luci/1" },
      { kind: "stage", stage: "building_image", seconds: 2 },
      { kind: "stage", stage: "total", seconds: 5 },
    );
    await recordOn(
      5,
      { kind: "event", event: "requests" },
      { kind: "event", event: "successes" },
      { kind: "client", client: "luci/1" },
      { kind: "client", client: "auc/0.3.2" },
      { kind: "stage", stage: "building_image", seconds: 4 },
    );
    const summary = await readStatsSummary(redis, NOW);
    expect(summary).toEqual({
      builds_24h: 0,
      period: { days: 30, from: dayLabel(29), to: dayLabel(0) },
      events: {
        requests: 2,
        "cache-hits": 0,
        "cache-misses": 1,
        successes: 1,
        failures: 0,
        "failures-request": 0,
        "failures-infrastructure": 0,
        "prebuilds-enqueued": 0,
        "prebuilds-skipped": 0,
        "prebuilds-succeeded": 0,
        "prebuilds-failed": 0,
      },
      clients: [
        { name: "luci/1", count: 2 },
        { name: "auc/0.3.2", count: 1 },
      ],
      stages: {
        building_image: { count: 2, mean_seconds: 3 },
        total: { count: 1, mean_seconds: 5 },
      },
    });
  });
});

describe("builds_24h", () => {
  it("counts the successes of the 24 hours before now, to the minute", async () => {
    // Half past the current hour: every key written below is still alive.
    const now = Date.now() - (Date.now() % 3_600_000) + 30 * 60_000;
    const at = (ms: number) => recordStats(redis, [{ kind: "event", event: "successes" }], ms);
    await at(now); // counts
    await at(now - 2 * 60_000); // counts
    await at(now - 23 * 3_600_000); // counts
    await at(now - DAY + 30_000); // the minute 24 hours ago: counts
    await at(now - DAY - 90_000); // the minute before: too old
    await at(now + 2 * 60_000); // after now
    await recordStats(redis, [{ kind: "event", event: "failures" }], now);
    expect((await readStatsSummary(redis, now)).builds_24h).toBe(4);
    expect((await readStatsSummary(redis, now + 3 * 60_000)).builds_24h).toBe(4);
  });

  it("keeps each hour's counts only as long as they can be read", async () => {
    const now = Date.now();
    await recordStats(redis, [{ kind: "event", event: "successes" }], now);
    const keys = (await redis.keys("*:successes:*")).filter((key) => !key.includes(":event:"));
    expect(keys).toHaveLength(1);
    const ttl = await redis.ttl(keys[0] as string);
    expect(ttl).toBeGreaterThan(24 * 3600);
    expect(ttl).toBeLessThanOrEqual(25 * 3600 + 60);
  });
});
