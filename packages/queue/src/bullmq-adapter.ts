import { Job, type JobJsonRaw, type JobsOptions } from "bullmq";
import type { Redis } from "ioredis";
import type { JobState } from "./job-snapshot.ts";

/*
 * The one place that knows how BullMQ lays out a queue in Redis: its key
 * names, its job hash, how the prioritized set is scored, which list a
 * worker takes from first. Everything else uses BullMQ's public API or the
 * operations here. bullmq-adapter.contract.test.ts checks these facts
 * against the installed BullMQ; an upgrade that changes them fails there.
 */

/** The BullMQ version these facts were read from (node_modules/bullmq). */
export const BULLMQ_VERSION_WRITTEN_FOR = "5.81.5";

/**
 * A prioritized job's score: priority × 2^32 + a per-queue counter (mod
 * 2^32), so jobs run by priority, then in arrival order; a worker takes the
 * wait list first, then ZPOPMIN of the prioritized set.
 */
export const PRIORITY_SCORE_FACTOR = 0x100000000;

/** A queue's keys under BullMQ's `{prefix}:{queue}:` naming. */
export function queueKeys(prefix: string, queue: string) {
  const base = `${prefix}:${queue}:`;
  const key = (name: string) => base + name;
  return {
    base,
    job: (id: string) => base + id,
    lock: (id: string) => `${base}${id}:lock`,
    completed: key("completed"),
    failed: key("failed"),
    delayed: key("delayed"),
    prioritized: key("prioritized"),
    active: key("active"),
    wait: key("wait"),
    paused: key("paused"),
    waitingChildren: key("waiting-children"),
    meta: key("meta"),
    id: key("id"),
    priorityCounter: key("pc"),
    marker: key("marker"),
    events: key("events"),
  };
}
export type QueueKeys = ReturnType<typeof queueKeys>;

/** Where a job is in each state, in KEYS[3..10] order; a job is in exactly one. */
const STATE_OF_KEY: readonly JobState[] = [
  "completed",
  "failed",
  "delayed",
  "prioritized",
  "active",
  "waiting",
  "waiting",
  "waiting-children",
];

/** KEYS both scripts start with: the job, its lock, then its states' keys as STATE_OF_KEY. */
function readKeys(keys: QueueKeys, id: string): string[] {
  return [
    keys.job(id),
    keys.lock(id),
    keys.completed,
    keys.failed,
    keys.delayed,
    keys.prioritized,
    keys.active,
    keys.wait,
    keys.paused,
    keys.waitingChildren,
  ];
}

/*
 * The job, its worker's lock, its state and its place in the queue at one
 * instant, in one command: every poll of every waiting client runs it. The
 * place follows how a worker takes jobs: the wait list (from its right end)
 * before the prioritized set (by score). Lua drops a table's nils, so "none"
 * is -1 and an absent job an empty hash.
 */
const READ_FUNCTION = `
local rcall = redis.call
local function readJob(id)
  local raw = rcall('HGETALL', KEYS[1])
  if #raw == 0 then return {raw, 0, -1, -1} end
  local locked = rcall('EXISTS', KEYS[2])
  local state, held = -1, nil
  for i = 3, 10 do
    if i >= 7 and i <= 9 then held = rcall('LPOS', KEYS[i], id) else held = rcall('ZSCORE', KEYS[i], id) end
    if held then state = i - 3; break end
  end
  local position = -1
  if state == 5 then position = rcall('LLEN', KEYS[8]) - 1 - held end
  if state == 3 then position = rcall('LLEN', KEYS[8]) + rcall('ZRANK', KEYS[6], id) end
  return {raw, locked, state, position}
end
`;

const READ = `${READ_FUNCTION}
return readJob(ARGV[1])
`;

/*
 * READ, and when there is no job, another key's value and its time to live
 * (KEYS[11]: a failure stored instead of a job), in the same round trip.
 */
const FIND = `${READ_FUNCTION}
local read = readJob(ARGV[1])
if read[3] ~= -1 then return {read, false, -2} end
return {read, rcall('GET', KEYS[11]), rcall('PTTL', KEYS[11])}
`;

/*
 * Admission, its record and the job, in one script, so neither two tiers
 * nor one client's burst can both see room for the last place, and no
 * reservation outlives a tier that died between deciding and adding.
 *
 * Limits: user builds waiting (the wait list and prioritized scores below
 * the user limit; prebuilds never count) stay below ARGV[6], and a client's
 * below ARGV[7] (0: none). A client's waiting builds are the members of its
 * set (KEYS[16], scored by priority) still in the prioritized set: entries
 * whose job started or is gone leave, from both ends each time and all of
 * them when the client looks full.
 *
 * Fair turns: a user build's priority is its client's turn: one after the
 * client's last waiting build, and never before the turn being served (the
 * head's, kept in KEYS[17] so a job retried with an old turn cannot pull it
 * back; 1 again once no user build waits). So a client's first waiting build
 * runs after at most one build of each other client, and a client arriving
 * late takes turns with those waiting instead of queuing behind them (or
 * before all of them).
 *
 * The job is written as BullMQ's addPrioritizedJob writes it (job hash,
 * events, id and priority counters, marker). Returns {0, read} when added,
 * {1, read} when the job existed, {2, waiting} when the queue is full and
 * {3, the client's waiting} when the client has its share.
 *
 * A user asking for a hash that waits in the prebuild lane (priority at or
 * above the user limit) is admitted as for a new build, and the job moves to
 * that client's turn as BullMQ's changePriority moves it (re-scored with the
 * next counter, the hash's priority field, the marker): {4, read}. Refused,
 * it stays where it is and is answered as existing: the build exists.
 */
const ADMIT_AND_ENQUEUE = `${READ_FUNCTION}
local id, name, data, optsJson, timestamp = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local maxPending, maxShare, prebuild = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8] == '1'
local limit, prebuildPriority, keep = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local factor = ${PRIORITY_SCORE_FACTOR}
local prioritized, wait, pending = KEYS[6], KEYS[8], KEYS[16]
local function admit()
  local userScores = '(' .. string.format('%.0f', limit * factor)
  local waiting = rcall('LLEN', wait) + rcall('ZCOUNT', prioritized, '-inf', userScores)
  if waiting >= maxPending then return 2, waiting end
  local function gone(member) return not rcall('ZSCORE', prioritized, member) end
  for _, ends in ipairs({{0, 0}, {-1, -1}}) do
    while true do
      local member = rcall('ZRANGE', pending, ends[1], ends[2])[1]
      if not member or not gone(member) then break end
      rcall('ZREM', pending, member)
    end
  end
  if maxShare > 0 and rcall('ZCARD', pending) >= maxShare then
    for _, member in ipairs(rcall('ZRANGE', pending, 0, -1)) do
      if gone(member) then rcall('ZREM', pending, member) end
    end
    local mine = rcall('ZCARD', pending)
    if mine >= maxShare then return 3, mine end
  end
  local turn = 1
  if waiting > 0 then
    local head = rcall('ZRANGE', prioritized, 0, 0, 'WITHSCORES')[2]
    if head and math.floor(tonumber(head) / factor) < limit then
      turn = math.max(1, math.floor(tonumber(head) / factor))
    end
    turn = math.max(turn, tonumber(rcall('GET', KEYS[17]) or 1))
  end
  rcall('SET', KEYS[17], turn)
  local last = rcall('ZRANGE', pending, -1, -1, 'WITHSCORES')[2]
  if last then turn = math.max(turn, tonumber(last) + 1) end
  local priority = math.min(turn, limit - 1)
  rcall('ZADD', pending, priority, id)
  rcall('EXPIRE', pending, keep)
  return 0, priority
end
local function rescore(priority)
  local counter = rcall('INCR', KEYS[13])
  rcall('ZADD', prioritized, priority * factor + counter % factor, id)
  local meta = rcall('HMGET', KEYS[11], 'paused', 'concurrency')
  if not meta[1] and not (meta[2] and rcall('LLEN', KEYS[7]) >= tonumber(meta[2])) then
    rcall('ZADD', KEYS[14], 0, '0')
  end
end
if rcall('EXISTS', KEYS[1]) == 1 then
  local lane = tonumber(rcall('HGET', KEYS[1], 'priority') or 0)
  if prebuild or lane < limit or not rcall('ZSCORE', prioritized, id) then return {1, readJob(id)} end
  local refused, priority = admit()
  if refused ~= 0 then return {1, readJob(id)} end
  rescore(priority)
  rcall('HSET', KEYS[1], 'priority', priority)
  return {4, readJob(id)}
end
local priority = prebuildPriority
if not prebuild then
  local refused, value = admit()
  if refused ~= 0 then return {refused, value} end
  priority = value
end
local opts = cjson.decode(optsJson)
opts['priority'] = priority
rcall('INCR', KEYS[12])
local maxEvents = rcall('HGET', KEYS[11], 'opts.maxLenEvents')
if not maxEvents then
  maxEvents = 10000
  rcall('HSET', KEYS[11], 'opts.maxLenEvents', maxEvents)
end
rcall('HMSET', KEYS[1], 'name', name, 'data', data, 'opts', cjson.encode(opts),
  'timestamp', timestamp, 'delay', 0, 'priority', priority)
rcall('XADD', KEYS[15], '*', 'event', 'added', 'jobId', id, 'name', name)
rescore(priority)
rcall('XADD', KEYS[15], 'MAXLEN', '~', maxEvents, '*', 'event', 'waiting', 'jobId', id)
return {0, readJob(id)}
`;

const READ_COMMAND = "asuReadJob";
const FIND_COMMAND = "asuFindJob";
const ADMIT_COMMAND = "asuAdmitAndEnqueue";
type ScriptCommand = (...args: (string | number)[]) => Promise<unknown>;
type WithScripts = Redis & {
  [READ_COMMAND]: ScriptCommand;
  [FIND_COMMAND]: ScriptCommand;
  [ADMIT_COMMAND]: ScriptCommand;
};

/**
 * The scripts as commands of this client: ioredis sends each by its SHA and
 * teaches a Redis that lacks it (new, restarted, flushed) once.
 */
function withScripts(redis: Redis): WithScripts {
  if (!(READ_COMMAND in redis)) {
    redis.defineCommand(READ_COMMAND, { numberOfKeys: 10, lua: READ });
    redis.defineCommand(FIND_COMMAND, { numberOfKeys: 11, lua: FIND });
    redis.defineCommand(ADMIT_COMMAND, { numberOfKeys: 17, lua: ADMIT_AND_ENQUEUE });
  }
  return redis as WithScripts;
}

export interface ReadJob {
  raw: JobJsonRaw;
  state: JobState;
  /** Whether a worker holds its lock. */
  locked: boolean;
  /** Builds a worker takes before it (0 = next); undefined unless it waits. */
  position: number | undefined;
}

type ReadReply = [string[], number, number, number];

function parseRead([flat, locked, stateIndex, position]: ReadReply): ReadJob | undefined {
  const state = STATE_OF_KEY[stateIndex];
  if (!state || flat.length === 0) return undefined;
  const raw: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) raw[flat[i] as string] = flat[i + 1] as string;
  return {
    raw: raw as unknown as JobJsonRaw,
    state,
    locked: locked === 1,
    position: position >= 0 ? position : undefined,
  };
}

/** Who a new build is counted against, and the limits it is admitted within. */
export interface AdmissionRequest {
  /** The client's lane (its address); undefined: a lane of its own with no share limit. */
  client: string | undefined;
  /** User builds waiting at most (MAX_PENDING_JOBS). */
  maxPending: number;
  /** Builds one client has waiting at most (MAX_PENDING_PER_CLIENT); 0: no limit. */
  maxPerClient: number;
  /** A release-day prebuild: the lowest priority, never limited nor counted. */
  prebuild?: boolean;
}

export type AdmitOutcome =
  /** promoted: a waiting prebuild moved to this client's turn. */
  | { outcome: "added" | "existed" | "promoted"; job: ReadJob | undefined }
  | { outcome: "queue-full" | "client-full"; waiting: number };

const ADMITTED: Record<number, "added" | "existed" | "promoted"> = {
  0: "added",
  1: "existed",
  4: "promoted",
};

export interface NewJob {
  id: string;
  name: string;
  data: unknown;
  /** BullMQ job options; the priority is the adapter's to decide. */
  opts: Omit<JobsOptions, "priority" | "jobId">;
}

export type FoundRead =
  | { job: ReadJob }
  | { job: undefined; otherwise: { value: string; ttlMs: number } | undefined };

export interface QueueDepthCounts {
  /** The wait list and the prioritized set (prebuilds too). */
  waiting: number;
  /** Of those, users' builds: what MAX_PENDING_JOBS bounds. */
  userWaiting: number;
  active: number;
}

export interface AdapterOptions {
  prefix: string;
  queue: string;
  /** User priorities stay below it (USER_PRIORITY_LIMIT). */
  userPriorityLimit: number;
  /** A prebuild's priority (PREBUILD_PRIORITY). */
  prebuildPriority: number;
  /** The key of a client's set of waiting builds. */
  pendingKey(client: string): string;
  /** Where the turn being served is kept. */
  turnKey: string;
  /** Seconds an idle client's set is kept. */
  pendingKeepSeconds: number;
  now?: () => number;
}

export interface QueueAdapter {
  readonly keys: QueueKeys;
  /** A job as read now (state, lock, place); undefined when there is none. */
  read(id: string): Promise<ReadJob | undefined>;
  /**
   * As `read`, and when there is no job, the value of `otherwise` (a key of
   * ours) with its milliseconds to live, in the same round trip.
   */
  find(id: string, otherwise: string): Promise<FoundRead>;
  /**
   * Admits and adds a job in one round trip, or refuses it; a job that
   * exists is read instead. Its priority is the client's turn. A user's
   * request for a prebuild still waiting promotes it to that turn when
   * admission lets it (else it is answered as it is, never refused).
   */
  admitAndEnqueue(job: NewJob, admission: AdmissionRequest): Promise<AdmitOutcome>;
  /** Queue depths at one instant, one round trip. */
  depth(): Promise<QueueDepthCounts>;
}

export function createQueueAdapter(redis: Redis, options: AdapterOptions): QueueAdapter {
  const keys = queueKeys(options.prefix, options.queue);
  const now = options.now ?? Date.now;
  const userScores = `(${options.userPriorityLimit * PRIORITY_SCORE_FACTOR}`;
  return {
    keys,
    async read(id) {
      const reply = await withScripts(redis)[READ_COMMAND](...readKeys(keys, id), id);
      return parseRead(reply as ReadReply);
    },
    async find(id, otherwise) {
      const reply = await withScripts(redis)[FIND_COMMAND](...readKeys(keys, id), otherwise, id);
      const [read, value, ttlMs] = reply as [ReadReply, string | null, number];
      const job = parseRead(read);
      if (job) return { job };
      return { job: undefined, otherwise: value === null ? undefined : { value, ttlMs } };
    },
    async admitAndEnqueue(job, admission) {
      const opts = JSON.stringify(Job.optsAsJSON({ ...job.opts, jobId: job.id }));
      const lane = admission.client ?? "";
      const reply = (await withScripts(redis)[ADMIT_COMMAND](
        ...readKeys(keys, job.id),
        keys.meta,
        keys.id,
        keys.priorityCounter,
        keys.marker,
        keys.events,
        options.pendingKey(lane),
        options.turnKey,
        job.id,
        job.name,
        JSON.stringify(job.data),
        opts,
        now(),
        admission.maxPending,
        admission.client === undefined ? 0 : admission.maxPerClient,
        admission.prebuild ? "1" : "0",
        options.userPriorityLimit,
        options.prebuildPriority,
        options.pendingKeepSeconds,
      )) as [number, ReadReply | number];
      const [code, payload] = reply;
      if (code === 2) return { outcome: "queue-full", waiting: payload as number };
      if (code === 3) return { outcome: "client-full", waiting: payload as number };
      const read = parseRead(payload as ReadReply);
      return { outcome: ADMITTED[code] ?? "existed", job: read };
    },
    async depth() {
      const replies =
        (await redis
          .multi()
          .llen(keys.wait)
          .zcard(keys.prioritized)
          .zcount(keys.prioritized, "-inf", userScores)
          .llen(keys.active)
          .exec()) ?? [];
      const [wait = 0, prioritized = 0, user = 0, active = 0] = replies.map(([error, count]) => {
        if (error) throw error;
        return Number(count);
      });
      return { waiting: wait + prioritized, userWaiting: wait + user, active };
    },
  };
}
