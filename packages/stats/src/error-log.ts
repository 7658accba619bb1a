import type { BuildRequest, FailureKind } from "@asu/core";
import { KEY_PREFIX } from "@asu/queue";
import type { Redis } from "ioredis";

/** The capped, anonymised error log (`YYYY-MM-DD HH:MM:SS version:target:profile message`), newest first. */
export const ERROR_LOG_KEY = `${KEY_PREFIX}:build-errors`;
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

/** Newest first, capped, so it can never grow without bound. */
export async function appendErrorLog(redis: Redis, entry: string): Promise<void> {
  await redis
    .multi()
    .lpush(ERROR_LOG_KEY, entry)
    .ltrim(ERROR_LOG_KEY, 0, ERROR_LOG_LENGTH - 1)
    .exec();
}

/** The newest `n` entries (all that are kept when `n` is not given), newest first. */
export async function readErrorLog(redis: Redis, n = ERROR_LOG_LENGTH): Promise<string[]> {
  return redis.lrange(ERROR_LOG_KEY, 0, Math.min(n, ERROR_LOG_LENGTH) - 1);
}
