/** How long one probe may take: a cache that slow would slow every download more. */
const PROBE_TIMEOUT_MS = 3_000;
/**
 * A cache found down is not asked again for this long, so a dead cache costs
 * builds in quick succession one wait, not one each. A cache that answered
 * is asked again at the next build: it may have gone since.
 */
const DOWN_TTL_MS = 15_000;

export interface CacheProbeOptions {
  timeoutMs?: number;
  ttlMs?: number;
  now?: () => number;
}

/**
 * Whether the caching proxy at CACHE_URL answers at all (any HTTP status
 * counts: the cache is there). When it does not, builds keep the
 * ImageBuilder's direct repository URLs instead of failing every download.
 */
export function createCacheProbe(
  cacheUrl: string,
  options: CacheProbeOptions = {},
): () => Promise<boolean> {
  const timeoutMs = options.timeoutMs ?? PROBE_TIMEOUT_MS;
  const ttlMs = options.ttlMs ?? DOWN_TTL_MS;
  const now = options.now ?? Date.now;
  let downSince: number | undefined;

  const probe = async (): Promise<boolean> => {
    try {
      const res = await fetch(`${cacheUrl.replace(/\/+$/, "")}/`, {
        method: "HEAD",
        redirect: "manual",
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.body?.cancel();
      return true;
    } catch {
      return false;
    }
  };

  return async () => {
    if (downSince !== undefined && now() - downSince < ttlMs) return false;
    const reachable = await probe();
    downSince = reachable ? undefined : now();
    return reachable;
  };
}
