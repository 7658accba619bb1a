import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.ts";
import { claimRegistryCheck, registryCheckKey } from "./registry-check.ts";

describe("claimRegistryCheck", () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("lets one of many workers ask the registry per interval", async () => {
    const redis = server.client();
    const image = "ghcr.io/openwrt/imagebuilder:ath79-generic-v24.10.0";
    const claims = await Promise.all(
      Array.from({ length: 20 }, () => claimRegistryCheck(redis, image, { intervalSeconds: 600 })),
    );
    expect(claims.filter(Boolean)).toHaveLength(1);
    const ttl = await redis.pttl(registryCheckKey(image));
    expect(ttl).toBeGreaterThan(590_000);
    expect(ttl).toBeLessThanOrEqual(600_000);
    // Another image has its own interval.
    expect(await claimRegistryCheck(redis, `${image}-other`, { intervalSeconds: 600 })).toBe(true);
  });

  it("asks again once the interval is over", async () => {
    const redis = server.client();
    const image = "b:x-v1";
    expect(await claimRegistryCheck(redis, image, { intervalSeconds: 0.2 })).toBe(true);
    expect(await claimRegistryCheck(redis, image, { intervalSeconds: 0.2 })).toBe(false);
    await expect
      .poll(() => claimRegistryCheck(redis, image, { intervalSeconds: 0.2 }), { timeout: 10_000 })
      .toBe(true);
  });

  it("asks again for a snapshot tag when upstream's version_code changed", async () => {
    const redis = server.client();
    const image = "b:x86-64-master";
    const options = { intervalSeconds: 600, versionCode: "r29000-aaaaaaaaaa" };
    expect(await claimRegistryCheck(redis, image, options)).toBe(true);
    expect(await claimRegistryCheck(redis, image, options)).toBe(false);
    const newer = { intervalSeconds: 600, versionCode: "r29001-bbbbbbbbbb" };
    const claims = await Promise.all([1, 2, 3].map(() => claimRegistryCheck(redis, image, newer)));
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await claimRegistryCheck(redis, image, newer)).toBe(false);
  });
});
