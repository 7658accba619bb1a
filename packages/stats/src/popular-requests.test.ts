import { buildRequestSchema } from "@asu/contract";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.ts";
import { createPopularRequests, popularCandidate } from "./popular-requests.ts";

let server: RedisServer;
let redis: Redis;
const schema = buildRequestSchema({ max_custom_rootfs_size_mb: 1024, max_defaults_length: 20480 });
const DAY = 86_400_000;

const request = (fields: Record<string, unknown> = {}) =>
  schema.parse({
    version: "24.10.0",
    target: "ath79/generic",
    profile: "tplink_archer-c7-v5",
    packages: ["luci"],
    ...fields,
  });
const candidate = (fields: Record<string, unknown> = {}, skip = false) => {
  const made = popularCandidate(request(fields), { skipPackageResolution: skip, branch: "24.10" });
  if (!made) throw new Error("not a candidate");
  return made;
};

beforeAll(async () => {
  server = await startRedisServer();
  redis = server.client();
});
beforeEach(async () => {
  await redis.flushdb();
});
afterAll(async () => {
  await server?.stop();
});

describe("which requests are remembered", () => {
  it("ignores client and version_code, and keeps skip_package_resolution apart", () => {
    const plain = candidate();
    expect(candidate({ client: "luci/x", version_code: "r1-abc" }).id).toBe(plain.id);
    expect(candidate({}, true).id).not.toBe(plain.id);
    expect(plain.request).toMatchObject({ version: "24.10.0", skip_package_resolution: false });
    expect(plain.request).not.toHaveProperty("client");
  });

  it("leaves out snapshots, first-boot scripts, custom repositories and pins", () => {
    const not = (fields: Record<string, unknown>) =>
      popularCandidate(request(fields), { skipPackageResolution: false, branch: "x" });
    expect(not({ version: "SNAPSHOT" })).toBeUndefined();
    expect(not({ version: "24.10-SNAPSHOT" })).toBeUndefined();
    expect(not({ defaults: "echo hi" })).toBeUndefined();
    expect(not({ repositories: { mine: "https://example.org/feed" } })).toBeUndefined();
    expect(not({ packages_versions: { luci: "1" } })).toBeUndefined();
    expect(
      popularCandidate(
        { ...request(), defaults_sha256: "ab" },
        { skipPackageResolution: false, branch: "x" },
      ),
    ).toBeUndefined();
  });
});

describe("the ranking in Redis", () => {
  it("counts distinct clients of successful builds only, most first", async () => {
    const popular = createPopularRequests(redis, { limit: 5 });
    const a = candidate({ packages: ["luci", "a"] });
    const b = candidate({ packages: ["luci", "b"] });
    const pending = candidate({ packages: ["luci", "pending"] });
    for (const client of ["1", "2", "3", "3", "3"]) popular.asked(a, client, client === "3");
    popular.asked(b, "9", true);
    popular.asked(pending, "9", false);
    await popular.flush();
    const top = await popular.top("24.10");
    expect(top.map((entry) => [entry.request.packages, entry.clients])).toEqual([
      [["luci", "a"], 3],
      [["luci", "b"], 1],
    ]);
    expect(await popular.top("23.05")).toEqual([]);
  });

  it("stays bounded whatever one client sends: candidates capped, bodies with them", async () => {
    const popular = createPopularRequests(redis, { limit: 2 });
    for (let i = 0; i < 50; i++) {
      popular.asked(candidate({ packages: ["luci", `p${i}`] }), "hostile", true);
    }
    await popular.flush();
    // 2 kept, 4 × 2 candidates at most.
    expect(await redis.zcard("asu:popular:24.10")).toBe(8);
    expect((await redis.keys("asu:popular:body:*")).length).toBe(8);
    for (const key of await redis.keys("asu:popular:clients:*")) {
      expect(await redis.ttl(key)).toBeGreaterThan(0);
    }
    expect(await popular.top("24.10")).toHaveLength(2);
  });

  it("forgets a request nobody asked for in 30 days", async () => {
    let now = Date.now();
    const popular = createPopularRequests(redis, { limit: 5, now: () => now });
    popular.asked(candidate({ packages: ["luci", "old"] }), "1", true);
    await popular.flush();
    now += 31 * DAY;
    popular.asked(candidate({ packages: ["luci", "new"] }), "1", true);
    await popular.flush();
    const top = await popular.top("24.10");
    expect(top.map((entry) => entry.request.packages)).toEqual([["luci", "new"]]);
  });
});
