import { metricsRegistry, registerCollectedGauge } from "@asu/observability";
import { LRUCache } from "lru-cache";
import { Pool } from "undici";
import {
  type BuildTierAnswer,
  type MirrorOptions,
  type MirrorState,
  startMirror,
} from "./completed-mirror.ts";

/**
 * Asks the build tier whether a request hash is already built. The prepare
 * tier must answer without it, so every failure (down, slow, odd answer)
 * means "not known to be built".
 */
export type BuildCacheProbe = ((requestHash: string) => Promise<boolean>) & {
  /** Stops the mirror's reads and closes the kept-alive connections to the build tier. */
  close?: () => Promise<void>;
  /** The mirror of finished builds now; undefined while there is none (not read yet, no route, over its bound). */
  mirror?: () => MirrorState | undefined;
};

/** A build tier in this process (`pnpm start`): what its HTTP routes answer, called directly. */
export interface InProcessBuildTier {
  /** As `POST /api/v1/build-cache` answers: per hash, whether it is built. */
  lookup(hashes: readonly string[]): Promise<Record<string, boolean>>;
  /** As `GET /api/v1/build-cache/completed` answers on the internal listener: one page. */
  completedPage(after: string | undefined, limit: number): Promise<unknown>;
}

export interface BuildCacheProbeOptions {
  /** BUILD_API_URL: the build tier asked about hashes (`POST /api/v1/build-cache`). */
  buildApiUrl: string | undefined;
  /**
   * BUILD_INTERNAL_URL: the build tier's internal listener, where the list of
   * finished builds is read for the mirror; unset: no mirror, every hash is
   * asked. The public port never serves the list.
   */
  buildInternalUrl?: string | undefined;
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
  /** Connections kept alive to the build tier (default 2). */
  connections?: number;
  /**
   * Requests to the build tier at once at most (default 1); hashes that come
   * meanwhile go together in the next, so a flood of new bodies costs about one
   * request per round trip, not one per prepare.
   */
  maxInFlight?: number;
  /** Hashes asked in one request at most (default 100, what the build tier accepts). */
  maxBatch?: number;
  /**
   * The mirror of finished builds' hashes (see createBuildCacheProbe), or
   * false for none: every hash is then asked.
   */
  mirror?: MirrorOptions | false;
  /** Instead of HTTP: a build tier in this process (`pnpm start`), called directly. */
  inProcess?: InProcessBuildTier;
  now?: () => number;
}

const NOT_CONFIGURED: BuildCacheProbe = async () => false;

/** Shared by every hash the mirror rules out: no promise made per prepare. */
const NOT_BUILT = Promise.resolve(false);

/** How the probe reaches the build tier; every call throws when it fails. */
interface BuildTierLink {
  /** `POST /api/v1/build-cache` for these hashes. */
  ask(hashes: string[]): Promise<BuildTierAnswer>;
  /** One page of the list of finished builds; undefined: none to read, no mirror. */
  readPage: ((after: string | undefined, limit: number) => Promise<BuildTierAnswer>) | undefined;
  close(): Promise<void>;
}

function inProcessLink(tier: InProcessBuildTier): BuildTierLink {
  return {
    ask: async (hashes) => ({ status: 200, body: { cache_available: await tier.lookup(hashes) } }),
    readPage: async (after, limit) => ({
      status: 200,
      body: await tier.completedPage(after, limit),
    }),
    close: async () => {},
  };
}

const BUILD_CACHE_PATH = "/api/v1/build-cache";

/** A kept-alive pool to `url`, and its path prefix. */
function poolTo(url: string, connections: number, timeoutMs: number) {
  const base = new URL(url);
  const pool = new Pool(base.origin, {
    connections,
    keepAliveTimeout: 30_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connectTimeout: timeoutMs,
  });
  return { pool, prefix: base.pathname.replace(/\/+$/, "") };
}

/** Over HTTP: lookups at BUILD_API_URL, the list at BUILD_INTERNAL_URL. */
function httpLink(
  options: BuildCacheProbeOptions & { buildApiUrl: string },
  timeoutMs: number,
): BuildTierLink {
  const closing = new AbortController();
  const api = poolTo(options.buildApiUrl, options.connections ?? 2, timeoutMs);
  const internal = options.buildInternalUrl
    ? // The mirror reads one sync at a time, and beside it at most one full read.
      poolTo(options.buildInternalUrl, 2, timeoutMs)
    : undefined;
  async function call(
    to: ReturnType<typeof poolTo>,
    method: "GET" | "POST",
    path: string,
    body?: string,
  ): Promise<BuildTierAnswer> {
    const signal = AbortSignal.any([closing.signal, AbortSignal.timeout(timeoutMs)]);
    const headers = body === undefined ? undefined : { "content-type": "application/json" };
    const res = await to.pool.request({ path: to.prefix + path, method, headers, body, signal });
    if (res.statusCode !== 200) {
      await res.body.dump();
      return { status: res.statusCode };
    }
    return { status: 200, body: await res.body.json() };
  }
  return {
    ask: (hashes) =>
      call(api, "POST", BUILD_CACHE_PATH, JSON.stringify({ request_hashes: hashes })),
    readPage:
      internal &&
      ((after, limit) => {
        const query = new URLSearchParams({ limit: String(limit) });
        if (after) query.set("after", after);
        return call(internal, "GET", `${BUILD_CACHE_PATH}/completed?${query}`);
      }),
    close: async () => {
      closing.abort();
      await Promise.all([api.pool.close(), internal?.pool.close()]);
    },
  };
}

/** Hashes gathered for one request to the build tier, each with its waiters' answer. */
interface Batch {
  answers: Map<string, (built: boolean) => void>;
  /** Answers false to whoever still waits once `answerWithinMs` has passed. */
  timer: NodeJS.Timeout;
}

/** The probe's settings, with their defaults, and the hashes it is asking about. */
interface Asking {
  readonly link: BuildTierLink;
  readonly answerWithinMs: number;
  readonly builtTtlMs: number;
  readonly notBuiltTtlMs: number;
  readonly maxInFlight: number;
  readonly maxBatch: number;
  readonly known: LRUCache<string, boolean>;
  /** Per hash asked or to be asked: what its waiters get, false once `answerWithinMs` has passed. */
  readonly inFlight: Map<string, Promise<boolean>>;
  /** sendGathered bound to this state once, for setImmediate: no closure per batch. */
  readonly sendGathered: () => void;
  gathering: Batch | undefined;
  requestsOut: number;
}

/**
 * `cache_available` without a round trip per prepare (which cost more than
 * the prepare): answers kept briefly, one question per hash, hashes batched
 * into one request, and no answer waits past `answerWithinMs`.
 * The mirror of finished builds (completed-mirror.ts, read from the build
 * tier's internal listener at BUILD_INTERNAL_URL) answers most hashes first.
 */
export function createBuildCacheProbe(options: BuildCacheProbeOptions): BuildCacheProbe {
  const timeoutMs = options.timeoutMs ?? 2000;
  let link: BuildTierLink;
  if (options.inProcess) link = inProcessLink(options.inProcess);
  else if (options.buildApiUrl)
    link = httpLink({ ...options, buildApiUrl: options.buildApiUrl }, timeoutMs);
  else return NOT_CONFIGURED;
  const asking = newAsking(link, options);
  const readPage = link.readPage;
  const mirror =
    options.mirror === false || !readPage
      ? undefined
      : startMirror({
          ...options.mirror,
          readPage,
          now: options.now ?? (() => performance.now()),
        });

  const probe: BuildCacheProbe = (requestHash) => {
    if (mirror?.rulesOut(requestHash)) return NOT_BUILT;
    return askAbout(asking, requestHash);
  };
  let closed: Promise<void> | undefined;
  probe.close = () => {
    closed ??= (async () => {
      mirror?.stop();
      await link.close();
    })();
    return closed;
  };
  probe.mirror = () => mirror?.state();
  return probe;
}

function newAsking(link: BuildTierLink, options: BuildCacheProbeOptions): Asking {
  const builtTtlMs = options.builtTtlMs ?? 60_000;
  const notBuiltTtlMs = options.notBuiltTtlMs ?? 1000;
  const asking: Asking = {
    link,
    answerWithinMs: options.answerWithinMs ?? 100,
    builtTtlMs,
    notBuiltTtlMs,
    maxInFlight: options.maxInFlight ?? 1,
    maxBatch: options.maxBatch ?? 100,
    known: new LRUCache<string, boolean>({
      max: options.maxEntries ?? 10_000,
      ttl: Math.max(builtTtlMs, notBuiltTtlMs, 1),
      ...(options.now ? { perf: { now: options.now }, ttlResolution: 0 } : {}),
    }),
    inFlight: new Map(),
    sendGathered: () => sendGathered(asking),
    gathering: undefined,
    requestsOut: 0,
  };
  return asking;
}

/** A hash the mirror did not rule out: the answer kept, the question already out, or a new one. */
function askAbout(asking: Asking, requestHash: string): Promise<boolean> {
  const cached = asking.known.get(requestHash);
  if (cached !== undefined) return Promise.resolve(cached);
  const waiting = asking.inFlight.get(requestHash);
  if (waiting) return waiting;
  // Every request out and the next one full: not asked at all.
  if (
    asking.requestsOut >= asking.maxInFlight &&
    (asking.gathering?.answers.size ?? 0) >= asking.maxBatch
  ) {
    return Promise.resolve(false);
  }
  const answer = gather(asking, requestHash);
  asking.inFlight.set(requestHash, answer);
  return answer;
}

/** Adds the hash to the batch being gathered, started (with its deadline) by the first. */
function gather(asking: Asking, requestHash: string): Promise<boolean> {
  if (!asking.gathering) {
    const answers = new Map<string, (built: boolean) => void>();
    const timer = setTimeout(() => {
      for (const answer of answers.values()) answer(false);
    }, asking.answerWithinMs);
    asking.gathering = { answers, timer };
    // Sent once this turn of the event loop is done: the prepares that
    // arrived together (one read of many sockets) share the request.
    setImmediate(asking.sendGathered);
  }
  const batch = asking.gathering;
  const answer = new Promise<boolean>((resolve) => batch.answers.set(requestHash, resolve));
  if (batch.answers.size >= asking.maxBatch) sendGathered(asking);
  return answer;
}

function sendGathered(asking: Asking): void {
  if (!asking.gathering || asking.requestsOut >= asking.maxInFlight) return;
  const batch = asking.gathering;
  asking.gathering = undefined;
  send(asking, batch);
}

function send(asking: Asking, batch: Batch): void {
  asking.requestsOut++;
  const hashes = [...batch.answers.keys()];
  void askBuildTier(asking.link, hashes).then((found) => {
    asking.requestsOut--;
    clearTimeout(batch.timer);
    for (const [hash, answer] of batch.answers) {
      const built = found.get(hash) === true;
      const ttl = built ? asking.builtTtlMs : asking.notBuiltTtlMs;
      // lru-cache reads a ttl of 0 as "forever".
      if (ttl > 0) asking.known.set(hash, built, { ttl });
      asking.inFlight.delete(hash);
      answer(built);
    }
    // Hashes that came while every request was out go now, together.
    sendGathered(asking);
  });
}

/** The build tier's answer per hash; an empty map when it could not tell. */
async function askBuildTier(link: BuildTierLink, hashes: string[]): Promise<Map<string, boolean>> {
  let answer: BuildTierAnswer;
  try {
    answer = await link.ask(hashes);
  } catch {
    return new Map();
  }
  const available = (answer.body as { cache_available?: unknown } | undefined)?.cache_available;
  if (typeof available !== "object" || available === null) return new Map();
  return new Map(
    hashes.map((hash) => [hash, (available as Record<string, unknown>)[hash] === true]),
  );
}

/**
 * `asu_build_cache_mirror_hashes` on the app's /metrics: the mirror's size,
 * labelled `fresh` (ruling hashes out), `stale` (asking about every hash
 * until a read succeeds) or `off` (0: no mirror, every hash asked).
 */
export function registerMirrorMetric(app: object, probe: BuildCacheProbe): void {
  registerCollectedGauge(metricsRegistry(app), {
    name: "asu_build_cache_mirror_hashes",
    help: "Finished builds' hashes the prepare tier mirrors, by state: fresh, stale, off",
    labelName: "state",
    read: async () => {
      const state = probe.mirror?.();
      return state ? { [state.fresh ? "fresh" : "stale"]: state.hashes } : { off: 0 };
    },
  });
}
