import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.ts";
import {
  appendErrorLog,
  ERROR_LOG_KEY,
  ERROR_LOG_LENGTH,
  errorLogEntry,
  errorLogTimestamp,
  LEGACY_ERROR_LOG_KEY,
  readErrorLog,
} from "./error-log.ts";

const ARCHER = { version: "24.10.0", target: "ath79/generic", profile: "tplink_archer-c7-v5" };
const AT = Date.parse("2025-03-04T05:06:07.890Z");

describe("errorLogEntry", () => {
  it("starts with the UTC time, then version:target:profile and the message", () => {
    expect(errorLogEntry(ARCHER, "Error: Build failed", AT)).toBe(
      "2025-03-04 05:06:07 24.10.0:ath79/generic:tplink_archer-c7-v5 Error: Build failed",
    );
    expect(errorLogTimestamp(Date.parse("1999-12-31T23:59:59Z"))).toBe("1999-12-31 23:59:59");
  });

  it("leads the message with the failure kind when it is known", () => {
    expect(errorLogEntry(ARCHER, "Error: Image not found", AT, "infrastructure")).toBe(
      "2025-03-04 05:06:07 24.10.0:ath79/generic:tplink_archer-c7-v5 [infrastructure] Error: Image not found",
    );
  });

  it("hides job ids: every run of 64 lower-case hex digits", () => {
    const hash = "0123456789abcdef".repeat(4);
    expect(errorLogEntry(ARCHER, `ID ${hash} found, /store/${hash}/x`, AT)).toMatch(
      / ID \[job-id\] found, \/store\/\[job-id\]\/x$/,
    );
    // 63 digits are no job id; upper case is not how hashes are written.
    const short = hash.slice(1);
    expect(errorLogEntry(ARCHER, short, AT).endsWith(` ${short}`)).toBe(true);
    expect(errorLogEntry(ARCHER, hash.toUpperCase(), AT)).not.toContain("[job-id]");
  });

  it("collapses whitespace to single spaces and cuts the message at 200 characters", () => {
    expect(errorLogEntry(ARCHER, "  Error:\n\tline one\r\n  line two  ", AT)).toMatch(
      / Error: line one line two$/,
    );
    const long = errorLogEntry(ARCHER, `Error: ${"x".repeat(500)}`, AT);
    const prefix = "2025-03-04 05:06:07 24.10.0:ath79/generic:tplink_archer-c7-v5 ";
    expect(long.startsWith(prefix)).toBe(true);
    expect(long.slice(prefix.length)).toBe(`Error: ${"x".repeat(193)}`);
    // Characters, not UTF-16 units: an emoji is one and is never cut in half.
    const emoji = errorLogEntry(ARCHER, "😀".repeat(300), AT).slice(prefix.length);
    expect(Array.from(emoji)).toHaveLength(200);
  });
});

describe("the stored error log", () => {
  let server: RedisServer;
  let redis: Redis;
  beforeAll(async () => {
    server = await startRedisServer();
    redis = server.client();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("keeps the newest 5000 entries, newest first", async () => {
    expect(ERROR_LOG_LENGTH).toBe(5000);
    await redis.del(ERROR_LOG_KEY);
    // A log one entry short of full, newest first as appendErrorLog keeps it,
    // then six appends that have to push the oldest out.
    const full = ERROR_LOG_LENGTH - 1;
    await redis.rpush(
      ERROR_LOG_KEY,
      ...Array.from({ length: full }, (_, index) => `entry ${full - 1 - index}`),
    );
    for (let index = full; index < ERROR_LOG_LENGTH + 5; index++) {
      await appendErrorLog(redis, `entry ${index}`);
    }
    const all = await readErrorLog(redis);
    expect(all).toHaveLength(ERROR_LOG_LENGTH);
    expect(all[0]).toBe(`entry ${ERROR_LOG_LENGTH + 4}`);
    expect(all.at(-1)).toBe("entry 5");
    expect(await readErrorLog(redis, 2)).toEqual([
      `entry ${ERROR_LOG_LENGTH + 4}`,
      `entry ${ERROR_LOG_LENGTH + 3}`,
    ]);
  });

  it("is the contract's list build:errors, and takes over an earlier version's log", async () => {
    expect(ERROR_LOG_KEY).toBe("build:errors");
    await redis.del(ERROR_LOG_KEY);
    // Written by a replica of an earlier version (newest first), while a new
    // one already logged a failure under the contract's name.
    await redis.rpush(LEGACY_ERROR_LOG_KEY, "old 2", "old 1");
    await redis.rpush(ERROR_LOG_KEY, "new 1");
    const fresh = server.client();
    try {
      expect(await readErrorLog(fresh)).toEqual(["new 1", "old 2", "old 1"]);
      expect(await fresh.exists(LEGACY_ERROR_LOG_KEY)).toBe(0);
      await appendErrorLog(fresh, "new 2");
      expect(await readErrorLog(fresh)).toEqual(["new 2", "new 1", "old 2", "old 1"]);
    } finally {
      fresh.disconnect();
      await redis.del(ERROR_LOG_KEY);
    }
  });
});
