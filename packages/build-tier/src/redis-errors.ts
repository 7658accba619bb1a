import { type ApiError, problem } from "@asu/contract";

const REDIS_FAILURES = [
  "MaxRetriesPerRequestError",
  "Connection is closed",
  "enableOfflineQueue",
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "Command timed out",
];

/** Redis going away must answer 503 with a reason, not a 500 or a hang. */
export function redisUnavailable(error: unknown): ApiError | undefined {
  if (!(error instanceof Error)) return undefined;
  const text = `${error.name} ${error.message}`;
  if (!REDIS_FAILURES.some((marker) => text.includes(marker))) return undefined;
  return problem(503, "Service Unavailable", "Build queue unavailable: cannot reach Redis");
}
