import type { BuildRequest, FailureKind } from "@asu/contract";
import { KEY_PREFIX } from "@asu/queue";
import type { Redis } from "ioredis";

/**
 * The capped, anonymised error log (`YYYY-MM-DD HH:MM:SS version:target:profile message`),
 * newest first, under the name the contract gives it.
 */
export const ERROR_LOG_KEY = "build:errors";
/** Where earlier versions of this server kept the log; merged into ERROR_LOG_KEY on first use. */
export const LEGACY_ERROR_LOG_KEY = `${KEY_PREFIX}:build-errors`;
/** Entries the error log keeps, as many as the Python server's. */
export const ERROR_LOG_LENGTH = 5000;

/** Characters of a message kept per entry, as the Python server cuts them. */
const MAX_MESSAGE = 200;
/** Job ids (request hashes) say which build failed, and so who asked. */
const JOB_ID = /[0-9a-f]{64}/g;

/** `2025-01-31 12:00:00`: the UTC time an entry starts with. */
export function errorLogTimestamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace("T", " ");
}

/**
 * One line of the public error log, in the Python server's format
 * `YYYY-MM-DD HH:MM:SS version:target:profile message` (UTC): what failed
 * where, never who asked or which packages (those can identify a device).
 */
export function errorLogEntry(
  request: Pick<BuildRequest, "version" | "target" | "profile">,
  message: string,
  now = Date.now(),
  kind?: FailureKind,
): string {
  const words = message.replace(JOB_ID, "[job-id]").split(/\s+/).filter(Boolean);
  // Cut by code points, as Python slices strings, so no surrogate is split.
  const clean = Array.from(words.join(" ")).slice(0, MAX_MESSAGE).join("");
  // The failure kind leads the message, so the line keeps the Python shape.
  const tag = kind ? `[${kind}] ` : "";
  return `${errorLogTimestamp(now)} ${request.version}:${request.target}:${request.profile} ${tag}${clean}`;
}

/**
 * The old list's entries are older than any under the new name, so they go
 * after them (newest first), within the cap; one script, so replicas
 * starting together cannot merge them twice.
 */
const MERGE_LEGACY = `
local old = redis.call('LRANGE', KEYS[1], 0, -1)
for i = 1, #old do redis.call('RPUSH', KEYS[2], old[i]) end
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[1]) - 1)
redis.call('DEL', KEYS[1])
return #old`;

const merged = new WeakSet<Redis>();

/** Moves a log kept under the old key to the contract's key, once per client. */
async function mergeLegacyLog(redis: Redis): Promise<void> {
  if (merged.has(redis)) return;
  await redis.eval(MERGE_LEGACY, 2, LEGACY_ERROR_LOG_KEY, ERROR_LOG_KEY, ERROR_LOG_LENGTH);
  merged.add(redis);
}

/** Newest first, capped, so it can never grow without bound. */
export async function appendErrorLog(redis: Redis, entry: string): Promise<void> {
  await mergeLegacyLog(redis);
  await redis
    .multi()
    .lpush(ERROR_LOG_KEY, entry)
    .ltrim(ERROR_LOG_KEY, 0, ERROR_LOG_LENGTH - 1)
    .exec();
}

/** The newest `n` entries (all that are kept when `n` is not given), newest first. */
export async function readErrorLog(redis: Redis, n = ERROR_LOG_LENGTH): Promise<string[]> {
  await mergeLegacyLog(redis);
  return redis.lrange(ERROR_LOG_KEY, 0, Math.min(n, ERROR_LOG_LENGTH) - 1);
}
