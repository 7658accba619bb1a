import type { BuildAnswer } from "@asu/queue";
import { LRUCache } from "lru-cache";

export interface SerializedAnswer {
  status: BuildAnswer["status"];
  headers: BuildAnswer["headers"];
  json: string;
}

/**
 * Finished builds do not change until they expire, and every device of a
 * model polls or re-posts the same one, so their answers are kept
 * serialized in memory for a minute at most — never past the result's expiry.
 * Failures of ours are not kept at all: any replica may replace them with a
 * fresh build, which this replica's memory would not see.
 */
export function createFinishedAnswers(options: { max?: number; ttlMs?: number } = {}) {
  const cache = new LRUCache<string, SerializedAnswer>({
    max: options.max ?? 5000,
    ttl: options.ttlMs ?? 60_000,
  });
  return {
    get: (requestHash: string) => cache.get(requestHash),
    /** `expiresAt` is when the result stops being served, unix ms. */
    remember(requestHash: string, answer: BuildAnswer, expiresAt: number | undefined) {
      if (answer.status === 202 || expiresAt === undefined) return;
      if (answer.body.failure_kind === "infrastructure") return;
      const left = expiresAt - Date.now();
      if (left <= 0) return;
      cache.set(
        requestHash,
        { status: answer.status, headers: answer.headers, json: JSON.stringify(answer.body) },
        { ttl: Math.min(left, options.ttlMs ?? 60_000) },
      );
    },
  };
}
