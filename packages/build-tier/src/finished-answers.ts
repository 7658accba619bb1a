import { stringifyOrderedJson } from "@asu/python-compat";
import { LRUCache } from "lru-cache";
import type { BuildAnswer } from "./build-answer.ts";

export interface SerializedAnswer {
  status: BuildAnswer["status"];
  headers: BuildAnswer["headers"];
  json: string;
  /** A finished build's image files, which must still be in the store. */
  files: string[];
}

/** The image files a finished build's answer offers for download. */
export function storedFilesOf(answer: BuildAnswer | SerializedAnswer): string[] {
  if ("files" in answer) return answer.files;
  const images = answer.body.images;
  if (!Array.isArray(images)) return [];
  return images.flatMap((image) =>
    typeof image === "object" && image !== null && typeof image.name === "string"
      ? [image.name as string]
      : [],
  );
}

/** What the finished answers may hold in all; a failed build's answer alone can be ~1 MB. */
export const FINISHED_ANSWERS_MAX_BYTES = 64 * 1024 * 1024;

/**
 * Finished answers are kept serialized for a minute at most (never past their
 * expiry), bounded by bytes; failures of ours are not kept, as any replica may
 * replace them with a fresh build.
 */
export function createFinishedAnswers(
  options: { max?: number; ttlMs?: number; maxBytes?: number } = {},
) {
  const maxBytes = options.maxBytes ?? FINISHED_ANSWERS_MAX_BYTES;
  const cache = new LRUCache<string, SerializedAnswer>({
    max: options.max ?? 5000,
    ttl: options.ttlMs ?? 60_000,
    maxSize: maxBytes,
    // UTF-16 strings: two bytes a unit, plus the key and the headers.
    sizeCalculation: (answer, key) => 2 * (answer.json.length + key.length) + 256,
    // One answer may not push out more than an eighth of the rest.
    maxEntrySize: Math.max(1, Math.floor(maxBytes / 8)),
  });
  return {
    get: (requestHash: string) => cache.get(requestHash),
    /** Bytes held, as the bound counts them. */
    get bytes() {
      return cache.calculatedSize;
    },
    forget: (requestHash: string) => {
      cache.delete(requestHash);
    },
    /** `expiresAt` is when the result stops being served, unix ms. */
    remember(requestHash: string, answer: BuildAnswer, expiresAt: number | undefined) {
      if (answer.status === 202 || expiresAt === undefined) return;
      if (answer.body.failure_kind === "infrastructure") return;
      const left = expiresAt - Date.now();
      if (left <= 0) return;
      cache.set(
        requestHash,
        {
          status: answer.status,
          headers: answer.headers,
          json: stringifyOrderedJson(answer.body),
          files: storedFilesOf(answer),
        },
        { ttl: Math.min(left, options.ttlMs ?? 60_000) },
      );
    },
  };
}
