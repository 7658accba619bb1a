import { type BuildRequest, requestHash } from "@asu/contract";
import { isSnapshot } from "@asu/openwrt-releases";
import { KEY_PREFIX } from "@asu/queue";
import type { Redis } from "ioredis";

/*
 * Popular requests: each distinct release request (its client and
 * version_code ignored) ranked by the distinct clients that asked for it,
 * per branch, over 30 days, so a new release can build them before routers
 * ask. Bounded: a capped sorted set of candidates per branch (with their
 * bodies), and HyperLogLogs of clients per candidate in 15-day buckets that
 * expire after 30 days; a candidate is added only by a request that was
 * validated and built, so one client cannot make more than it can build.
 */

/** A request as routers send it, without `client` and `version_code`. */
export interface RememberedRequest {
  distro?: string;
  version: string;
  target: string;
  profile: string;
  packages: string[];
  diff_packages?: boolean;
  filesystem?: string;
  rootfs_size_mb?: number;
  /** Asked with `?skip_package_resolution=true` (a prepared request). */
  skip_package_resolution: boolean;
}

export interface PopularRequest {
  request: RememberedRequest;
  /** Distinct clients that asked for it (HyperLogLog: about ±1%). */
  clients: number;
}

/** A request worth remembering: its identity and body. */
export interface PopularCandidate {
  id: string;
  branch: string;
  request: RememberedRequest;
}

const POPULAR_PREFIX = `${KEY_PREFIX}:popular`;
const WINDOW_MS = 30 * 86_400_000;
const BUCKET_MS = WINDOW_MS / 2;
const TTL_SECONDS = WINDOW_MS / 1000;
/** Candidates kept per branch, as a multiple of the top that is remembered. */
export const CANDIDATES_PER_KEPT = 4;
/** In-memory bounds between flushes. */
const MAX_PENDING_CANDIDATES = 10_000;
const MAX_PENDING_CLIENTS = 1_000;

const isEmpty = (value: unknown) =>
  value === undefined ||
  value === null ||
  value === "" ||
  (typeof value === "object" && Object.keys(value as object).length === 0);

/**
 * The candidate of a successful (or queued) build's request, or undefined
 * when it is not remembered: snapshots, first-boot scripts, custom
 * repositories and pinned package versions are one user's, not a release's.
 */
export function popularCandidate(
  request: BuildRequest | Record<string, unknown>,
  options: { skipPackageResolution: boolean; branch: string },
): PopularCandidate | undefined {
  const r = request as BuildRequest & { defaults_sha256?: string };
  if (typeof r.version !== "string" || isSnapshot(r.version)) return undefined;
  if (!isEmpty(r.defaults) || r.defaults_sha256 !== undefined) return undefined;
  if (!isEmpty(r.repositories) || !isEmpty(r.repository_keys)) return undefined;
  if (!isEmpty(r.packages_versions)) return undefined;
  const remembered: RememberedRequest = {
    ...(r.distro ? { distro: r.distro } : {}),
    version: r.version,
    target: r.target,
    profile: r.profile,
    packages: [...(r.packages ?? [])],
    ...(r.diff_packages !== undefined ? { diff_packages: r.diff_packages } : {}),
    ...(r.filesystem ? { filesystem: r.filesystem } : {}),
    ...(r.rootfs_size_mb ? { rootfs_size_mb: r.rootfs_size_mb } : {}),
    skip_package_resolution: options.skipPackageResolution,
  };
  const id = requestHash({ ...r, version_code: "", packages_versions: {} } as BuildRequest, {
    skipPackageResolution: options.skipPackageResolution,
  });
  return { id, branch: options.branch, request: remembered };
}

/*
 * One candidate's asks: its clients into this bucket's HyperLogLog; when
 * its build succeeded, its rank (distinct clients of the last two buckets)
 * and body, then the branch's set trimmed to its cap. Candidates not asked
 * for within the window leave the set. KEYS: ranked, last-asked, body,
 * bucket, previous bucket; ARGV: id, body, now, window, ttl, cap,
 * succeeded, body prefix, clients…
 */
const RECORD = `
local ranked, asked, body, bucket, previous = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, json, now, window, ttl, cap = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local succeeded, prefix = ARGV[7] == '1', ARGV[8]
for i = 9, #ARGV do redis.call('PFADD', bucket, ARGV[i]) end
redis.call('EXPIRE', bucket, ttl)
local function drop(member)
  redis.call('ZREM', ranked, member)
  redis.call('ZREM', asked, member)
  redis.call('DEL', prefix .. member)
end
for _, member in ipairs(redis.call('ZRANGEBYSCORE', asked, '-inf', now - window, 'LIMIT', 0, 100)) do
  drop(member)
end
if not succeeded and not redis.call('ZSCORE', ranked, id) then return 0 end
local clients = redis.call('PFCOUNT', bucket, previous)
redis.call('ZADD', ranked, clients, id)
redis.call('ZADD', asked, now, id)
redis.call('SET', body, json, 'EX', ttl)
local extra = redis.call('ZCARD', ranked) - cap
if extra > 0 then
  for _, member in ipairs(redis.call('ZRANGE', ranked, 0, extra - 1)) do drop(member) end
end
return clients
`;
const RECORD_COMMAND = "asuRecordPopular";
type WithRecord = Redis & { [RECORD_COMMAND](...args: (string | number)[]): Promise<unknown> };

function withRecord(redis: Redis): WithRecord {
  if (!(RECORD_COMMAND in redis)) {
    redis.defineCommand(RECORD_COMMAND, { numberOfKeys: 5, lua: RECORD });
  }
  return redis as WithRecord;
}

const rankedKey = (branch: string) => `${POPULAR_PREFIX}:${branch}`;
const askedKey = (branch: string) => `${POPULAR_PREFIX}:${branch}:asked`;
const bodyPrefix = `${POPULAR_PREFIX}:body:`;
const bucketKey = (id: string, bucket: number) => `${POPULAR_PREFIX}:clients:${id}:${bucket}`;

export interface PopularRequestsOptions {
  /** RELEASE_PREBUILDS: the top kept per branch; 0 keeps nothing. */
  limit: number;
  now?: () => number;
  onError?: (error: Error) => void;
}

interface Pending {
  candidate: PopularCandidate;
  clients: Set<string>;
  succeeded: boolean;
}

export interface PopularRequests {
  /** A client asked for a candidate; `succeeded` when it was answered with the finished build. */
  asked(candidate: PopularCandidate, client: string, succeeded: boolean): void;
  /** Writes what was asked since the last flush (one pipeline). */
  flush(): Promise<void>;
  /** The most asked-for requests of a branch, most clients first. */
  top(branch: string, count?: number): Promise<PopularRequest[]>;
  /** Flushes every second until stopped. */
  start(intervalMs?: number): () => void;
}

export function createPopularRequests(redis: Redis, options: PopularRequestsOptions) {
  const now = options.now ?? Date.now;
  const cap = options.limit * CANDIDATES_PER_KEPT;
  let pending = new Map<string, Pending>();

  async function flush() {
    if (pending.size === 0) return;
    const batch = pending;
    pending = new Map();
    const at = now();
    const bucket = Math.floor(at / BUCKET_MS);
    const pipeline = withRecord(redis).pipeline() as unknown as WithRecord;
    for (const { candidate, clients, succeeded } of batch.values()) {
      pipeline[RECORD_COMMAND](
        rankedKey(candidate.branch),
        askedKey(candidate.branch),
        bodyPrefix + candidate.id,
        bucketKey(candidate.id, bucket),
        bucketKey(candidate.id, bucket - 1),
        candidate.id,
        JSON.stringify(candidate.request),
        at,
        WINDOW_MS,
        TTL_SECONDS,
        cap,
        succeeded ? "1" : "0",
        bodyPrefix,
        ...clients,
      );
    }
    await (pipeline as unknown as ReturnType<Redis["pipeline"]>).exec();
  }

  return {
    asked(candidate, client, succeeded) {
      if (cap <= 0) return;
      let entry = pending.get(candidate.id);
      if (!entry) {
        if (pending.size >= MAX_PENDING_CANDIDATES) return;
        entry = { candidate, clients: new Set(), succeeded: false };
        pending.set(candidate.id, entry);
      }
      if (entry.clients.size < MAX_PENDING_CLIENTS) entry.clients.add(client);
      entry.succeeded ||= succeeded;
    },
    flush,
    async top(branch, count = options.limit) {
      if (count <= 0) return [];
      const ranked = await redis.zrevrange(rankedKey(branch), 0, count - 1, "WITHSCORES");
      const ids = ranked.filter((_, i) => i % 2 === 0);
      if (ids.length === 0) return [];
      const bodies = await redis.mget(ids.map((id) => bodyPrefix + id));
      return ids.flatMap((_, i) => {
        const body = bodies[i];
        return body
          ? [{ request: JSON.parse(body) as RememberedRequest, clients: Number(ranked[2 * i + 1]) }]
          : [];
      });
    },
    start(intervalMs = 1000) {
      const timer = setInterval(() => {
        flush().catch((error: Error) => options.onError?.(error));
      }, intervalMs);
      timer.unref();
      return () => clearInterval(timer);
    },
  } satisfies PopularRequests;
}
