import type { BuildRequest, FailureKind } from "@asu/core";
import type { Redis } from "ioredis";
import { ERROR_LOG_KEY, ERROR_LOG_LENGTH } from "./build-job.ts";

const MAX_MESSAGE = 500;

/**
 * One line of the public error log: what failed where, never who asked or
 * which packages (those can identify a device).
 */
export function errorLogEntry(
  request: Pick<BuildRequest, "version" | "target" | "profile">,
  message: string,
  kind?: FailureKind,
): string {
  const oneLine = message.replace(/\s+/g, " ").trim().slice(0, MAX_MESSAGE);
  const tag = kind ? ` [${kind}]` : "";
  return `${request.version}:${request.target}:${request.profile}${tag} ${oneLine}`;
}

/** Newest first, capped, so it can never grow without bound. */
export async function appendErrorLog(redis: Redis, entry: string): Promise<void> {
  await redis
    .multi()
    .lpush(ERROR_LOG_KEY, entry)
    .ltrim(ERROR_LOG_KEY, 0, ERROR_LOG_LENGTH - 1)
    .exec();
}

export async function readErrorLog(redis: Redis): Promise<string[]> {
  return redis.lrange(ERROR_LOG_KEY, 0, ERROR_LOG_LENGTH - 1);
}
