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

/** A build tier in this process (`pnpm start`): what its HTTP routes answer, called directly. */
export interface InProcessBuildTier {
  /** As `POST /api/v1/build-cache` answers: per hash, whether it is built. */
  lookup(hashes: readonly string[]): Promise<Record<string, boolean>>;
}

export interface BuildCacheProbeOptions {
  /** BUILD_API_URL: the build tier asked about hashes (`POST /api/v1/build-cache`). */
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
  /** Instead of HTTP: a build tier in this process (`pnpm start`), called directly. */
  inProcess?: InProcessBuildTier;
  now?: () => number;
}

const NOT_CONFIGURED: BuildCacheProbe = async () => false;

/** A build tier's answer to one request: its status and, for a 200, the parsed body. */
interface BuildTierAnswer {
  status: number;
  body?: unknown;
}

/** How the probe reaches the build tier; every call throws when it fails. */
interface BuildTierLink {
  /** `POST /api/v1/build-cache` for these hashes. */
  ask(hashes: string[]): Promise<BuildTierAnswer>;
  close(): Promise<void>;
}

function inProcessLink(tier: InProcessBuildTier): BuildTierLink {
  return {
    ask: async (hashes) => ({ status: 200, body: { cache_available: await tier.lookup(hashes) } }),
    close: async () => {},
  };
}

const BUILD_CACHE_PATH = "/api/v1/build-cache";

/** Over HTTP: `POST /api/v1/build-cache` at BUILD_API_URL, on kept-alive connections. */
function httpLink(
  options: BuildCacheProbeOptions & { buildApiUrl: string },
  timeoutMs: number,
): BuildTierLink {
  const closing = new AbortController();
  const base = new URL(options.buildApiUrl);
  const pool = new Pool(base.origin, {
    connections: options.connections ?? 2,
    keepAliveTimeout: 30_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connectTimeout: timeoutMs,
  });
  const path = base.pathname.replace(/\/+$/, "") + BUILD_CACHE_PATH;
  return {
    ask: async (hashes) => {
      const signal = AbortSignal.any([closing.signal, AbortSignal.timeout(timeoutMs)]);
      const res = await pool.request({
        path,
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ request_hashes: hashes }),
        signal,
      });
      if (res.statusCode !== 200) {
        await res.body.dump();
        return { status: res.statusCode };
      }
      return { status: 200, body: await res.body.json() };
    },
    close: async () => {
      closing.abort();
      await pool.close();
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
 */
export function createBuildCacheProbe(options: BuildCacheProbeOptions): BuildCacheProbe {
  const timeoutMs = options.timeoutMs ?? 2000;
  let link: BuildTierLink;
  if (options.inProcess) link = inProcessLink(options.inProcess);
  else if (options.buildApiUrl)
    link = httpLink({ ...options, buildApiUrl: options.buildApiUrl }, timeoutMs);
  else return NOT_CONFIGURED;
  const asking = newAsking(link, options);
  const probe: BuildCacheProbe = (requestHash) => askAbout(asking, requestHash);
  let closed: Promise<void> | undefined;
  probe.close = () => {
    closed ??= link.close();
    return closed;
  };
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

/** The answer kept, the question already out, or a new one. */
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
