import { LRUCache } from "lru-cache";
import { Pool } from "undici";

/**
 * Asks the build tier whether a request hash is already built. The prepare
 * tier must answer without it, so every failure (down, slow, odd answer)
 * means "not known to be built".
 */
export type BuildCacheProbe = ((requestHash: string) => Promise<boolean>) & {
  /** Closes the kept-alive connections to the build tier. */
  close?: () => Promise<void>;
};

export interface BuildCacheProbeOptions {
  buildApiUrl: string | undefined;
  /**
   * Longest a prepare answer waits for the build tier (default 100 ms); then
   * it says false. The request goes on and its answer is kept for the next
   * prepare of that hash.
   */
  answerWithinMs?: number;
  /** Longest one request to the build tier may take (default 2 s). */
  timeoutMs?: number;
  /**
   * How long "built" is believed (default 60 s): a finished build is kept
   * for hours, and a build tier that dropped it early builds it again.
   */
  builtTtlMs?: number;
  /**
   * How long "not built" (or "could not tell") is believed (default 1 s):
   * short, since a build may finish at any moment; long enough that a
   * body many devices repeat costs one request a second.
   */
  notBuiltTtlMs?: number;
  /** Hashes remembered at most (default 10 000). */
  maxEntries?: number;
  /** Connections kept alive to the build tier (default 8). */
  connections?: number;
  /**
   * Requests to the build tier at once at most (default: one per
   * connection). Past that a new hash is answered false without asking: a
   * request queued behind busy connections would rarely come back within
   * `answerWithinMs`, and a flood of new bodies must not turn into a flood
   * of requests that takes the build tier's time (and, on a shared machine,
   * the prepare tier's).
   */
  maxInFlight?: number;
  /** Instead of HTTP connections: a build tier in this process (`pnpm start`). */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  now?: () => number;
}

const NOT_CONFIGURED: BuildCacheProbe = async () => false;

/**
 * With BUILD_API_URL set every prepare needs `cache_available`, and a round
 * trip to the build tier for each cost more than the whole prepare. So:
 * concurrent prepares of one hash share one request; answers are kept
 * briefly ("built" longer than "not built"), in a bounded cache; connections
 * are kept alive; and no answer waits longer than `answerWithinMs`.
 */
export function createBuildCacheProbe(options: BuildCacheProbeOptions): BuildCacheProbe {
  if (!options.buildApiUrl) return NOT_CONFIGURED;
  const base = new URL(options.buildApiUrl);
  const prefix = base.pathname.replace(/\/+$/, "");
  const answerWithinMs = options.answerWithinMs ?? 100;
  const timeoutMs = options.timeoutMs ?? 2000;
  const builtTtlMs = options.builtTtlMs ?? 60_000;
  const notBuiltTtlMs = options.notBuiltTtlMs ?? 1000;
  const connections = options.connections ?? 8;
  const maxInFlight = options.maxInFlight ?? connections;
  const pool = options.fetch
    ? undefined
    : new Pool(base.origin, {
        connections,
        keepAliveTimeout: 30_000,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        connectTimeout: timeoutMs,
      });
  const known = new LRUCache<string, boolean>({
    max: options.maxEntries ?? 10_000,
    ttl: Math.max(builtTtlMs, notBuiltTtlMs, 1),
    ...(options.now ? { perf: { now: options.now }, ttlResolution: 0 } : {}),
  });
  /** Per hash in flight: what its waiters get, false once `answerWithinMs` has passed. */
  const inFlight = new Map<string, Promise<boolean>>();

  const ask = async (requestHash: string): Promise<boolean> => {
    const path = `${prefix}/api/v1/build/${encodeURIComponent(requestHash)}`;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      if (!pool) {
        const res = await options.fetch?.(`${base.origin}${path}`, { method: "HEAD", signal });
        return res?.status === 200;
      }
      // undici closes the connection after a HEAD unless told otherwise (a
      // guard against servers that send a body with it); the build tier does not.
      const { statusCode, body } = await pool.request({
        path,
        method: "HEAD",
        signal,
        reset: false,
      });
      await body.dump();
      return statusCode === 200;
    } catch {
      return false;
    }
  };

  const probe: BuildCacheProbe = (requestHash) => {
    const cached = known.get(requestHash);
    if (cached !== undefined) return Promise.resolve(cached);
    const waiting = inFlight.get(requestHash);
    if (waiting) return waiting;
    if (inFlight.size >= maxInFlight) return Promise.resolve(false);

    const asked = ask(requestHash).then((built) => {
      const ttl = built ? builtTtlMs : notBuiltTtlMs;
      // lru-cache reads a ttl of 0 as "forever".
      if (ttl > 0) known.set(requestHash, built, { ttl });
      inFlight.delete(requestHash);
      return built;
    });
    let timer: NodeJS.Timeout | undefined;
    const answer = Promise.race([
      asked,
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), answerWithinMs);
      }),
    ]).finally(() => clearTimeout(timer));
    inFlight.set(requestHash, answer);
    return answer;
  };
  probe.close = async () => pool?.close();
  return probe;
}
