export interface MirrorOptions {
  /**
   * How often the builds finished since the last sync are fetched (default
   * 1 s): a build finishing now is believed within about this, as "not
   * built" was believed for 1 s without the mirror.
   */
  syncEveryMs?: number;
  /**
   * How often the whole list is read again (default 10 min), so hashes the
   * build tier dropped (expired, removed) leave the mirror.
   */
  resyncEveryMs?: number;
  /**
   * How long after its last sync the mirror still rules hashes out (default
   * 3 s); after that (build tier down or slow) every hash is asked.
   */
  freshForMs?: number;
  /**
   * Hashes mirrored at most (default 1 000 000, ~21 MB). A build tier that
   * lists more is asked about every hash, until a later full read fits.
   */
  maxHashes?: number;
  /** Hashes per page read (default and the build tier's cap: 10 000). */
  pageSize?: number;
  /**
   * How far before the newest finish time each sync reads again (default
   * 30 s): BullMQ stamps a build with its worker's clock, so a worker whose
   * clock lags files its builds behind ones already read.
   */
  overlapMs?: number;
}

/** A build tier's answer to one request: its status and, for a 200, the parsed body. */
export interface BuildTierAnswer {
  status: number;
  body?: unknown;
}

export interface MirrorDeps extends MirrorOptions {
  /**
   * One page of the build tier's list (`GET /api/v1/build-cache/completed`
   * on its internal listener, or the tier in this process), with its own
   * timeout; throws when it fails.
   */
  readPage: (after: string | undefined, limit: number) => Promise<BuildTierAnswer>;
  now: () => number;
}

export interface MirrorState {
  hashes: number;
  /** Read recently enough to answer hashes it lacks `false`. */
  fresh: boolean;
}

export interface CompletedMirror {
  /** True when the hash was surely never built: the mirror is fresh and lacks it. */
  rulesOut(requestHash: string): boolean;
  /** Hashes mirrored now and whether they rule hashes out; undefined while there is no mirror. */
  state(): MirrorState | undefined;
  stop(): void;
}

/**
 * A mirrored hash: its first 8 hex digits as a 32-bit integer, which V8 keeps
 * unboxed in a Set. Two hashes may share it; a hit is only a reason to ask.
 */
function mirrorKey(requestHash: string): number {
  return Number.parseInt(requestHash.slice(0, 8), 16) | 0;
}

const CURSOR_SCORE = /^(\d+(?:\.\d+)?):\d+$/;

interface Page {
  hashes: string[];
  cursor: string | null;
  more: boolean;
}

function isPage(body: unknown): body is Page {
  const page = body as Page | undefined;
  return (
    Array.isArray(page?.hashes) &&
    (page.cursor === null || typeof page.cursor === "string") &&
    typeof page.more === "boolean"
  );
}

/** What a read of the pages from one cursor on came to. */
type Read =
  | { ok: true; newestScore: number | undefined; startedLastAt: number }
  | { ok: false; why: "missing" | "too-many" | "failed" };

/** The mirror's settings, with their defaults, and what it has read so far. */
interface Mirror {
  readonly deps: MirrorDeps;
  readonly syncEveryMs: number;
  readonly resyncEveryMs: number;
  readonly freshForMs: number;
  readonly maxHashes: number;
  readonly pageSize: number;
  readonly overlapMs: number;
  mirrored: Set<number> | undefined;
  /** When the read that made the mirror current began its last page. */
  freshAt: number;
  fullReadAt: number;
  /** The newest finish time read; undefined: none yet. */
  newestScore: number | undefined;
  /** A build tier without the route, or listing too many: tried again at the next full read. */
  pausedUntil: number;
  /** The set a full read under way fills; the syncs meanwhile add to it too. */
  fullReadInto: Set<number> | undefined;
  timer: NodeJS.Timeout | undefined;
  stopped: boolean;
}

/**
 * Nearly every hash a prepare asks about was never built, so the prepare tier
 * mirrors BullMQ's completed set: while fresh, a hash it lacks is answered
 * false without asking; one it has may have expired, so that one is asked.
 */
export function startMirror(deps: MirrorDeps): CompletedMirror {
  const mirror: Mirror = {
    deps,
    syncEveryMs: deps.syncEveryMs ?? 1000,
    resyncEveryMs: deps.resyncEveryMs ?? 600_000,
    freshForMs: deps.freshForMs ?? 3000,
    maxHashes: deps.maxHashes ?? 1_000_000,
    pageSize: deps.pageSize ?? 10_000,
    overlapMs: deps.overlapMs ?? 30_000,
    mirrored: undefined,
    freshAt: Number.NEGATIVE_INFINITY,
    fullReadAt: Number.NEGATIVE_INFINITY,
    newestScore: undefined,
    pausedUntil: Number.NEGATIVE_INFINITY,
    fullReadInto: undefined,
    timer: undefined,
    stopped: false,
  };
  syncThenSchedule(mirror);
  return {
    rulesOut: (requestHash) => rulesOut(mirror, requestHash),
    state: () => mirror.mirrored && { hashes: mirror.mirrored.size, fresh: isFresh(mirror) },
    stop() {
      mirror.stopped = true;
      clearTimeout(mirror.timer);
    },
  };
}

function rulesOut(mirror: Mirror, requestHash: string): boolean {
  return (
    mirror.mirrored !== undefined &&
    isFresh(mirror) &&
    requestHash.length === 64 &&
    !mirror.mirrored.has(mirrorKey(requestHash))
  );
}

function isFresh(mirror: Mirror): boolean {
  return mirror.deps.now() - mirror.freshAt < mirror.freshForMs;
}

/** Syncs now, then every syncEveryMs after the last sync ended, until stopped. */
function syncThenSchedule(mirror: Mirror): void {
  const schedule = () => {
    if (mirror.stopped) return;
    mirror.timer = setTimeout(() => syncThenSchedule(mirror), mirror.syncEveryMs);
    mirror.timer.unref();
  };
  void sync(mirror).then(schedule, schedule);
}

async function sync(mirror: Mirror): Promise<void> {
  const startedAt = mirror.deps.now();
  if (startedAt < mirror.pausedUntil) return;
  if (mirror.mirrored === undefined) {
    if (!mirror.fullReadInto) await readAll(mirror, startedAt);
    return;
  }
  if (!mirror.fullReadInto && startedAt - mirror.fullReadAt >= mirror.resyncEveryMs) {
    void readAll(mirror, startedAt);
  }
  await readSince(mirror, startedAt, mirror.mirrored);
}

/**
 * Reads the whole list into a new set, which then replaces the mirror.
 * The syncs meanwhile go on adding to both, so a long read (a million
 * hashes take seconds) neither lets the mirror age nor misses their builds.
 */
async function readAll(mirror: Mirror, startedAt: number): Promise<void> {
  const into = new Set<number>();
  mirror.fullReadInto = into;
  const result = await read(mirror, undefined, into);
  mirror.fullReadInto = undefined;
  if (mirror.stopped) return;
  if (!result.ok) return giveUp(mirror, result.why, startedAt);
  mirror.mirrored = into;
  mirror.fullReadAt = startedAt;
  advance(mirror, result);
}

/** Reads the builds finished since the newest read, less overlapMs, into the mirror. */
async function readSince(mirror: Mirror, startedAt: number, into: Set<number>): Promise<void> {
  const after =
    mirror.newestScore === undefined
      ? undefined
      : `${Math.max(0, Math.floor(mirror.newestScore - mirror.overlapMs))}:0`;
  const result = await read(mirror, after, into);
  if (mirror.stopped || mirror.mirrored !== into) return;
  if (!result.ok) return giveUp(mirror, result.why, startedAt);
  advance(mirror, result);
}

/**
 * Reads the pages after `after` into `into`, up to the end or maxHashes;
 * and each page also into the set of a full read under way when it comes.
 */
async function read(mirror: Mirror, after: string | undefined, into: Set<number>): Promise<Read> {
  let cursor = after;
  let newest: number | undefined;
  for (;;) {
    const startedAt = mirror.deps.now();
    let answer: BuildTierAnswer;
    try {
      answer = await mirror.deps.readPage(cursor, mirror.pageSize);
    } catch {
      return { ok: false, why: "failed" };
    }
    if (answer.status === 404) return { ok: false, why: "missing" };
    if (answer.status !== 200 || !isPage(answer.body)) return { ok: false, why: "failed" };
    const page = answer.body;
    addPage(mirror, page, into);
    if (into.size > mirror.maxHashes) return { ok: false, why: "too-many" };
    const score = page.cursor ? CURSOR_SCORE.exec(page.cursor)?.[1] : undefined;
    if (page.hashes.length > 0 && score !== undefined) newest = Number(score);
    if (!page.more) return { ok: true, newestScore: newest, startedLastAt: startedAt };
    // A page that does not move the cursor on would be read forever.
    if (page.cursor === null || page.cursor === cursor) return { ok: false, why: "failed" };
    cursor = page.cursor;
  }
}

/** Adds a page's hashes to `into`, and to the set of a full read under way. */
function addPage(mirror: Mirror, page: Page, into: Set<number>): void {
  for (const hash of page.hashes) {
    if (typeof hash !== "string") continue;
    const key = mirrorKey(hash);
    into.add(key);
    if (mirror.fullReadInto !== into) mirror.fullReadInto?.add(key);
  }
}

/** A successful read: its newest finish time and the start of its last page make the mirror current. */
function advance(mirror: Mirror, result: Extract<Read, { ok: true }>): void {
  if (result.newestScore !== undefined) {
    mirror.newestScore = Math.max(mirror.newestScore ?? 0, result.newestScore);
  }
  mirror.freshAt = Math.max(mirror.freshAt, result.startedLastAt);
}

/** What a read that failed for good (no route, too many) leaves: no mirror until the next full read. */
function giveUp(mirror: Mirror, why: "missing" | "too-many" | "failed", startedAt: number): void {
  if (why === "failed") return; // The mirror ages out; the next sync tries again.
  mirror.mirrored = undefined;
  mirror.pausedUntil = startedAt + mirror.resyncEveryMs;
}
