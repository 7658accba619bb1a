import {
  describeFetchFailure,
  UpstreamResponseError,
  UpstreamUnavailableError,
} from "./upstream-errors.ts";

export interface MetadataClientLogger {
  warn(obj: object, msg?: string): void;
  debug?(obj: object, msg?: string): void;
}

export interface MetadataClientOptions {
  /** e.g. `https://downloads.openwrt.org`; a trailing slash is ignored. */
  upstreamUrl: string;
  /** Limit for one upstream request, body included. Default 10 000. */
  timeoutMs?: number;
  /** Age after which a cached entry is revalidated on next use. Default 5 min. */
  ttlMs?: number;
  /**
   * After a failed revalidation the stale entry is served without asking
   * again for this long, so a hanging upstream does not cost every request a
   * full timeout. Default: the smaller of ttlMs and 30 s. `refresh` ignores it.
   */
  failureBackoffMs?: number;
  /** Cached paths kept, least recently used evicted first. Default 1000. */
  maxEntries?: number;
  fetch?: typeof fetch;
  logger?: MetadataClientLogger;
  /** The clock that ages entries, unix ms. Default Date.now. */
  now?: () => number;
}

export interface GetOptions {
  /** Re-read upstream now (conditionally when cached) instead of trusting the cache. */
  refresh?: boolean;
}

export interface MetadataClientStats {
  /** Requests sent upstream. */
  fetches: number;
  /** Requests that brought nothing usable (network error, timeout, 5xx, invalid JSON). */
  failures: number;
  /** Reads answered from the cache without asking upstream. */
  hits: number;
}

export interface MetadataClient {
  /**
   * The parsed JSON at `{upstreamUrl}/{path}`, or undefined when upstream
   * says 404. The value is shared by every caller and therefore deep-frozen.
   * @throws UpstreamUnavailableError when upstream fails and nothing is cached.
   */
  getJson<T = unknown>(path: string, options?: GetOptions): Promise<T | undefined>;
  /** Like getJson, for raw text files (opkg `Packages`, `feeds.conf`, ...). */
  getText(path: string, options?: GetOptions): Promise<string | undefined>;
  clear(): void;
  stats(): MetadataClientStats;
  /** The absolute URL of a path, for messages. */
  url(path: string): string;
}

type Kind = "json" | "text";

interface CacheEntry {
  /** undefined means upstream answered 404: the file is absent. */
  value: unknown;
  etag: string | undefined;
  lastModified: string | undefined;
  fetchedAt: number;
  /** When to revalidate; pushed out by ttlMs on success, by failureBackoffMs on failure. */
  expiresAt: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_TTL_MS = 5 * 60_000;
const MAX_FAILURE_BACKOFF_MS = 30_000;
const DEFAULT_MAX_ENTRIES = 1000;

const DECODERS: Readonly<Record<Kind, (body: string) => unknown>> = {
  json: (body) => {
    try {
      return deepFreeze(JSON.parse(body));
    } catch {
      throw new UpstreamResponseError("invalid JSON");
    }
  },
  text: (body) => body,
};

/** How entries are fetched and aged: the options resolved, and the counters /metrics reads. */
interface Fetching {
  fetch: typeof fetch;
  timeoutMs: number;
  ttlMs: number;
  failureBackoffMs: number;
  now: () => number;
  logger: MetadataClientLogger | undefined;
  counters: MetadataClientStats;
}

/**
 * An LRU: each key's last use is stamped, and the least recent goes when
 * the cache is full. Re-inserting on every hit (delete, then set) churned
 * the Map's table on every request; a new stamp overwrites in place, and
 * the scan for the least recent only runs when a fetched file is added.
 */
function entryCache(maxEntries: number) {
  const cache = new Map<string, CacheEntry>();
  const lastUse = new Map<string, number>();
  let uses = 0;
  return {
    get: (key: string) => cache.get(key),
    remember(key: string, entry: CacheEntry): void {
      cache.set(key, entry);
      lastUse.set(key, ++uses);
      while (cache.size > maxEntries) {
        let oldest: string | undefined;
        let oldestUse = Number.POSITIVE_INFINITY;
        for (const [candidate, use] of lastUse) {
          if (use < oldestUse) {
            oldest = candidate;
            oldestUse = use;
          }
        }
        if (oldest === undefined) break;
        cache.delete(oldest);
        lastUse.delete(oldest);
      }
    },
    clear() {
      cache.clear();
      lastUse.clear();
    },
  };
}

async function fetchEntry(
  f: Fetching,
  kind: Kind,
  url: string,
  cached: CacheEntry | undefined,
): Promise<CacheEntry> {
  const headers: Record<string, string> = {};
  if (cached?.etag !== undefined) headers["if-none-match"] = cached.etag;
  if (cached?.lastModified !== undefined) headers["if-modified-since"] = cached.lastModified;
  // One signal for headers and body, so a body that stalls midway also times out.
  const fetchImpl = f.fetch;
  const response = await fetchImpl(url, { headers, signal: AbortSignal.timeout(f.timeoutMs) });
  const fetchedAt = f.now();
  const fresh = { fetchedAt, expiresAt: fetchedAt + f.ttlMs };

  if (response.status === 304 && cached !== undefined) {
    await discardBody(response);
    return {
      ...cached,
      ...fresh,
      etag: response.headers.get("etag") ?? cached.etag,
      lastModified: response.headers.get("last-modified") ?? cached.lastModified,
    };
  }
  if (response.status === 404) {
    await discardBody(response);
    return { value: undefined, etag: undefined, lastModified: undefined, ...fresh };
  }
  if (response.status < 200 || response.status > 299) {
    await discardBody(response);
    throw new UpstreamResponseError(`HTTP ${response.status}`);
  }
  const value = DECODERS[kind](await response.text());
  return {
    value,
    etag: response.headers.get("etag") ?? undefined,
    lastModified: response.headers.get("last-modified") ?? undefined,
    ...fresh,
  };
}

/** A fresh entry from upstream; on failure the cached one, served stale for a back-off. */
async function revalidate(
  f: Fetching,
  kind: Kind,
  url: string,
  cached: CacheEntry | undefined,
): Promise<CacheEntry> {
  f.counters.fetches++;
  const startedAt = Date.now();
  try {
    const entry = await fetchEntry(f, kind, url, cached);
    f.logger?.debug?.(
      { url, ms: Date.now() - startedAt, absent: entry.value === undefined },
      "upstream metadata fetched",
    );
    return entry;
  } catch (error) {
    f.counters.failures++;
    const reason = describeFetchFailure(error, f.timeoutMs);
    if (cached === undefined) throw new UpstreamUnavailableError(url, reason, { cause: error });
    const failedAt = f.now();
    f.logger?.warn(
      { url, reason, staleForMs: failedAt - cached.fetchedAt },
      "upstream metadata unavailable, serving cached copy",
    );
    return { ...cached, expiresAt: failedAt + f.failureBackoffMs };
  }
}

function fetchingOf(options: MetadataClientOptions): Fetching {
  const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
  return {
    fetch: options.fetch ?? globalThis.fetch,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    ttlMs,
    failureBackoffMs: options.failureBackoffMs ?? Math.min(ttlMs, MAX_FAILURE_BACKOFF_MS),
    now: options.now ?? Date.now,
    logger: options.logger,
    counters: { fetches: 0, failures: 0, hits: 0 },
  };
}

export function createMetadataClient(options: MetadataClientOptions): MetadataClient {
  const baseUrl = options.upstreamUrl.replace(/\/+$/, "");
  const f = fetchingOf(options);
  const { counters } = f;
  const cache = entryCache(options.maxEntries ?? DEFAULT_MAX_ENTRIES);
  const inFlight = new Map<string, Promise<CacheEntry>>();
  // Bumped by clear() so a fetch that was under way cannot repopulate the cache.
  let generation = 0;

  async function get(kind: Kind, path: string, getOptions?: GetOptions): Promise<unknown> {
    // Keyed by the path as asked: only a path that passed normalizePath on
    // its way upstream is ever cached, and hits stay cheap (every request
    // of both tiers reads several files).
    const key = `${kind}:${path}`;
    const cached = cache.get(key);
    if (cached !== undefined && getOptions?.refresh !== true && f.now() < cached.expiresAt) {
      counters.hits++;
      cache.remember(key, cached);
      return cached.value;
    }
    const relative = normalizePath(path);
    let pending = inFlight.get(key);
    if (pending === undefined) {
      const started = generation;
      const request: Promise<CacheEntry> = revalidate(f, kind, `${baseUrl}/${relative}`, cached)
        .then((entry) => {
          if (started === generation) cache.remember(key, entry);
          return entry;
        })
        .finally(() => {
          if (inFlight.get(key) === request) inFlight.delete(key);
        });
      inFlight.set(key, request);
      pending = request;
    }
    return (await pending).value;
  }

  return {
    getJson: <T>(path: string, getOptions?: GetOptions) =>
      get("json", path, getOptions) as Promise<T | undefined>,
    getText: (path, getOptions) => get("text", path, getOptions) as Promise<string | undefined>,
    clear() {
      generation++;
      cache.clear();
      inFlight.clear();
    },
    stats: () => ({ ...counters }),
    url: (path) => `${baseUrl}/${path.replace(/^\/+/, "")}`,
  };
}

/**
 * Paths are built from request data (versions, targets), so anything that
 * could step outside the upstream tree or change the URL's meaning is refused
 * here rather than trusted to every caller. Segments are percent-encoded.
 */
function normalizePath(path: string): string {
  const segments = path.replace(/^\/+/, "").split("/");
  for (const segment of segments) {
    if (segment === "" || segment === "." || segment === ".." || segment.includes("\\")) {
      throw new TypeError(`Invalid upstream metadata path: ${JSON.stringify(path)}`);
    }
  }
  return segments.map(encodeURIComponent).join("/");
}

async function discardBody(response: Response): Promise<void> {
  // An unread body keeps the connection busy until garbage collection.
  await response.body?.cancel().catch(() => undefined);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
