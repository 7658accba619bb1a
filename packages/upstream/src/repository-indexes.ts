import { gunzipSync } from "node:zlib";
import { apkIndexNames, type IndexNames, opkgIndexNames } from "@asu/imagebuilder-formats";
import { describeFetchFailure } from "./upstream-errors.ts";

/** What reading a request's own repository gave: its names, or why there are none. */
export type RepositoryIndex =
  | { ok: true; url: string; names: IndexNames }
  | { ok: false; url: string; reason: string };

export interface RepositoryIndexOptions {
  /** Limit for one repository, body included: a slow feed makes its packages unknown. Default 3 s. */
  timeoutMs?: number;
  /** How long a read index (or a failure) is reused. Default 5 min; failures at most 30 s. */
  ttlMs?: number;
  /** Repositories remembered, least recently used dropped. Default 64. */
  maxEntries?: number;
  /** Larger indexes are not read (their packages stay unknown). Default 32 MiB. */
  maxBytes?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

export interface RepositoryIndexes {
  read(url: string): Promise<RepositoryIndex>;
}

const DEFAULT_TIMEOUT_MS = 3000;
const DEFAULT_TTL_MS = 5 * 60_000;
const FAILURE_TTL_MS = 30_000;
const DEFAULT_MAX_ENTRIES = 64;
const DEFAULT_MAX_BYTES = 32 * 1024 * 1024;

class TooLarge extends Error {}

/** The body as bytes, refusing more than `maxBytes` however the server frames it. */
async function boundedBody(response: Response, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw new TooLarge(`larger than ${maxBytes} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body?.getReader();
  if (!reader) return new Uint8Array();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new TooLarge(`larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/**
 * The index files the ImageBuilder would read for a repository URL: apk
 * repositories name their `packages.adb`, whose folder also has the v2
 * `index.json`; opkg feeds are folders with `Packages` (or `Packages.gz`).
 */
function candidates(url: string): { url: string; kind: "apk" | "opkg" | "opkg-gz" }[] {
  const base = url.replace(/\/+$/, "");
  if (base.endsWith(".adb")) {
    return [{ url: `${base.slice(0, base.lastIndexOf("/"))}/index.json`, kind: "apk" }];
  }
  return [
    { url: `${base}/Packages`, kind: "opkg" },
    { url: `${base}/Packages.gz`, kind: "opkg-gz" },
  ];
}

/**
 * Reads the indexes of the repositories a request brings, with a short
 * timeout: what cannot be read in time is reported, so its packages count as
 * unknown and are never refused. Results are cached per URL, bounded.
 */
export function createRepositoryIndexes(options: RepositoryIndexOptions = {}): RepositoryIndexes {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { value: RepositoryIndex; expiresAt: number }>();
  const inFlight = new Map<string, Promise<RepositoryIndex>>();

  async function fetchIndex(url: string): Promise<RepositoryIndex> {
    const signal = AbortSignal.timeout(timeoutMs);
    let reason = "no index found";
    for (const candidate of candidates(url)) {
      try {
        const response = await fetchImpl(candidate.url, { signal });
        if (response.status === 404) {
          await response.body?.cancel().catch(() => undefined);
          continue;
        }
        if (!response.ok) {
          await response.body?.cancel().catch(() => undefined);
          return { ok: false, url: candidate.url, reason: `HTTP ${response.status}` };
        }
        const body = await boundedBody(response, maxBytes);
        if (candidate.kind === "apk") {
          const names = apkIndexNames(JSON.parse(Buffer.from(body).toString("utf8")));
          if (names === null)
            return { ok: false, url: candidate.url, reason: "not an apk v2 index" };
          return { ok: true, url: candidate.url, names };
        }
        const bytes =
          candidate.kind === "opkg-gz" ? gunzipSync(body, { maxOutputLength: maxBytes }) : body;
        return {
          ok: true,
          url: candidate.url,
          names: opkgIndexNames(Buffer.from(bytes).toString("utf8")),
        };
      } catch (error) {
        reason = error instanceof TooLarge ? error.message : describeFetchFailure(error, timeoutMs);
        return { ok: false, url: candidate.url, reason };
      }
    }
    return { ok: false, url, reason };
  }

  return {
    async read(url) {
      const cached = cache.get(url);
      if (cached && now() < cached.expiresAt) {
        cache.delete(url);
        cache.set(url, cached);
        return cached.value;
      }
      let pending = inFlight.get(url);
      if (!pending) {
        pending = fetchIndex(url).finally(() => inFlight.delete(url));
        inFlight.set(url, pending);
        const value = await pending;
        cache.delete(url);
        cache.set(url, {
          value,
          expiresAt: now() + (value.ok ? ttlMs : Math.min(ttlMs, FAILURE_TTL_MS)),
        });
        while (cache.size > maxEntries) {
          const oldest = cache.keys().next();
          if (oldest.done) break;
          cache.delete(oldest.value);
        }
        return value;
      }
      return pending;
    },
  };
}
