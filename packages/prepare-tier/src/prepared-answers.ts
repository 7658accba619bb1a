import { LRUCache } from "lru-cache";

/**
 * Remembers recent prepare answers by request body. Thousands of routers of
 * one model ask with the same body, and the answer is a pure function of the
 * body and upstream metadata, so a short-lived copy is as good as a fresh
 * computation. The TTL bounds how long a change upstream (a profile dropped)
 * can go unseen; `cache_available` is never remembered.
 */
export interface PreparedAnswers<T extends {}> {
  get(body: string): T | undefined;
  set(body: string, answer: T): void;
}

export function createPreparedAnswers<T extends {}>(options: {
  max?: number;
  ttlMs?: number | undefined;
  now?: () => number;
  /** Bytes of one answer besides its body (the key); bounds the cache by bytes. */
  sizeOf?: (answer: T) => number;
  maxBytes?: number;
  /**
   * Keeps an answer from its body's second sighting on: keeping bodies sent
   * once cost more than computing them (bench/README.md, bench:prepare).
   * Sightings are 32-bit fingerprints in a fixed table: no allocation.
   */
  keepFromSecondSight?: boolean;
}): PreparedAnswers<T> {
  if (options.ttlMs === 0) return { get: () => undefined, set: () => undefined };
  const seen = options.keepFromSecondSight ? createSightings() : undefined;
  const cache = new LRUCache<string, T>({
    max: options.max ?? 2000,
    ttl: options.ttlMs ?? 60_000,
    ...(options.now ? { perf: { now: options.now }, ttlResolution: 0 } : {}),
    // Bodies up to 1 MiB are accepted; only ordinary ones are worth keeping.
    maxEntrySize: 4 * 64 * 1024,
    // UTF-16 strings: two bytes a unit, body and answer both counted.
    sizeCalculation: (value, key) => 2 * (key.length + (options.sizeOf?.(value) ?? 0)) || 1,
    maxSize: options.maxBytes ?? 32 * 1024 * 1024,
  });
  return {
    get: (body) => cache.get(body),
    set: (body, answer) => {
      if (body.length > 64 * 1024) return;
      if (seen && !seen(body)) return;
      cache.set(body, answer);
    },
  };
}

/** Slots of the sightings table: 256 KiB, a few seconds of a flood of new bodies. */
const SIGHTING_SLOTS = 1 << 16;

/** Whether a body was offered before, recording that it now was (see keepFromSecondSight). */
function createSightings(): (body: string) => boolean {
  const slots = new Uint32Array(SIGHTING_SLOTS);
  return (body) => {
    // FNV-1a over the UTF-16 units; 0 marks an empty slot, so it is never a fingerprint.
    let hash = 0x811c9dc5;
    for (let i = 0; i < body.length; i++) {
      hash ^= body.charCodeAt(i);
      hash = Math.imul(hash, 0x01000193);
    }
    const fingerprint = hash >>> 0 || 1;
    const slot = (fingerprint ^ (fingerprint >>> 16)) & (SIGHTING_SLOTS - 1);
    if (slots[slot] === fingerprint) return true;
    slots[slot] = fingerprint;
    return false;
  };
}
