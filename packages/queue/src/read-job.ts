import type { JobJsonRaw } from "bullmq";
import type { Redis } from "ioredis";
import type { JobState } from "./job-snapshot.ts";

/**
 * Where BullMQ keeps a job in each state, in the order they are checked; a
 * job is in exactly one of them. `list` ones are read with LPOS, the rest
 * with ZSCORE.
 */
const STATE_KEYS: readonly { state: JobState; key: string; list: boolean }[] = [
  { state: "completed", key: "completed", list: false },
  { state: "failed", key: "failed", list: false },
  { state: "delayed", key: "delayed", list: false },
  { state: "prioritized", key: "prioritized", list: false },
  { state: "active", key: "active", list: true },
  { state: "waiting", key: "wait", list: true },
  { state: "waiting", key: "paused", list: true },
  { state: "waiting-children", key: "waiting-children", list: false },
];
const WAIT_INDEX = STATE_KEYS.findIndex(({ key }) => key === "wait");

/*
 * The job, its lock, its state and its wait-list place read at one instant in
 * one command (every poll runs it). KEYS: the job, its lock, then STATE_KEYS;
 * ARGV: job id, the wait list's position in KEYS. Lua drops nils: "none" is -1.
 */
const READ_JOB = `
local id = ARGV[1]
local raw = redis.call('HGETALL', KEYS[1])
local locked = redis.call('EXISTS', KEYS[2])
local state = -1
for i = 3, #KEYS do
  local held
  if ARGV[i] == 'list' then held = redis.call('LPOS', KEYS[i], id) else held = redis.call('ZSCORE', KEYS[i], id) end
  if held then state = i - 3; break end
end
local position = -1
local index = redis.call('LPOS', KEYS[tonumber(ARGV[2])], id)
if index then position = redis.call('LLEN', KEYS[tonumber(ARGV[2])]) - 1 - index end
return {raw, locked, state, position}
`;
const READ_JOB_COMMAND = "asuReadJob";

type WithReadJob = Redis & { [READ_JOB_COMMAND](...args: string[]): Promise<unknown> };

/**
 * The script as a command of this client: ioredis sends it by its SHA and
 * teaches a Redis that lacks it (new, restarted, flushed) once.
 */
function withReadJob(redis: Redis): WithReadJob {
  if (!(READ_JOB_COMMAND in redis)) {
    redis.defineCommand(READ_JOB_COMMAND, { numberOfKeys: 2 + STATE_KEYS.length, lua: READ_JOB });
  }
  return redis as WithReadJob;
}

export interface ReadJob {
  raw: JobJsonRaw;
  state: JobState;
  /** Whether a worker holds its lock. */
  locked: boolean;
  /** Builds ahead of it in the wait list (BullMQ pushes left, takes right); undefined when not in it. */
  position: number | undefined;
}

/** The job `id` of the queue under `prefix` (`asu:builds:`) as read now; undefined when there is none. */
export async function readJob(
  redis: Redis,
  prefix: string,
  id: string,
): Promise<ReadJob | undefined> {
  const keys = [`${prefix}${id}`, `${prefix}${id}:lock`, ...STATE_KEYS.map((s) => prefix + s.key)];
  const args = [id, String(WAIT_INDEX + 3), ...STATE_KEYS.map((s) => (s.list ? "list" : "set"))];
  const reply = await withReadJob(redis)[READ_JOB_COMMAND](...keys, ...args);
  const [flat, locked, stateIndex, position] = reply as [string[], number, number, number];
  const held = STATE_KEYS[stateIndex];
  if (!held || flat.length === 0) return undefined;
  const raw: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) raw[flat[i] as string] = flat[i + 1] as string;
  return {
    raw: raw as unknown as JobJsonRaw,
    state: held.state,
    locked: locked === 1,
    position: position >= 0 ? position : undefined,
  };
}
