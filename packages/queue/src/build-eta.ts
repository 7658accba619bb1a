import type { BuildStage } from "./job-data.ts";

/** The stages a build passes while it runs, in order; their durations are recorded. */
export const TIMED_STAGES = [
  "init",
  "container_setup",
  "validate_revision",
  "validate_manifest",
  "building_image",
] as const satisfies readonly BuildStage[];
export type TimedStage = (typeof TIMED_STAGES)[number];

/**
 * Seconds each stage is assumed to take before any build finished here: a
 * small real ImageBuilder build on one core. History replaces them stage by
 * stage as builds succeed.
 */
export const DEFAULT_STAGE_SECONDS: Readonly<Record<TimedStage, number>> = {
  init: 1,
  container_setup: 10,
  validate_revision: 5,
  validate_manifest: 10,
  building_image: 60,
};

/** Recent durations, seconds, per stage and for the whole build (`total`). */
export type DurationHistory = Partial<Record<TimedStage | "total", readonly number[]>>;

/** What an estimate needs besides the job itself. */
export interface EtaInputs {
  /** Builds that can run at once: the summed concurrency of the workers online. */
  slots: number;
  /** Seconds each running build has been running (at most `slots` of them). */
  running: readonly number[];
  /** Median seconds of each stage. */
  stageSeconds: Readonly<Record<TimedStage, number>>;
  /** Median seconds of a whole build. */
  buildSeconds: number;
}

export function median(values: readonly number[]): number | undefined {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Workers as their heartbeats describe them. */
export interface SlotSource {
  concurrency: number;
  state: string;
}

/**
 * The estimate's inputs from worker heartbeats, the running builds' ages
 * and the duration history. With no worker online the queue does not move
 * at all; it is estimated as if one slot were there, so the answer stays a
 * number a client can show.
 */
export function etaInputs(
  workers: readonly SlotSource[],
  runningSeconds: readonly number[],
  history: DurationHistory,
): EtaInputs {
  const online = workers.filter((worker) => worker.state !== "stopping");
  const slots = Math.max(
    1,
    online.reduce((sum, worker) => sum + Math.max(0, worker.concurrency), 0),
  );
  const stageSeconds = Object.fromEntries(
    TIMED_STAGES.map((stage) => [
      stage,
      median(history[stage] ?? []) ?? DEFAULT_STAGE_SECONDS[stage],
    ]),
  ) as Record<TimedStage, number>;
  const summed = TIMED_STAGES.reduce((sum, stage) => sum + stageSeconds[stage], 0);
  return {
    slots,
    // The longest-running first: they are the ones that stay when slots are fewer.
    running: [...runningSeconds].sort((x, y) => y - x).slice(0, slots),
    stageSeconds,
    buildSeconds: median(history.total ?? []) ?? summed,
  };
}

/** The same inputs `seconds` later: the running builds have run that much longer. */
export function agedBy(inputs: EtaInputs, seconds: number): EtaInputs {
  if (seconds <= 0) return inputs;
  return { ...inputs, running: inputs.running.map((age) => age + seconds) };
}

const whole = (seconds: number) => Math.max(1, Math.ceil(seconds));

/**
 * Seconds until a queued build is done. `position` is its queue_position
 * (0 = next). Each slot frees when its running build reaches the median
 * build time (at once when idle); the builds ahead then pass through the
 * slots in turn, a median build each. Since no slot frees later than one
 * median from now, the k-th build ahead takes the (k mod slots)-th slot to
 * free, after k div slots whole builds there.
 */
export function queuedEta(position: number, inputs: EtaInputs): number {
  const { slots, running, buildSeconds } = inputs;
  const freeAt = Array.from({ length: slots }, (_, slot) =>
    slot < running.length ? Math.max(0, buildSeconds - (running[slot] as number)) : 0,
  ).sort((x, y) => x - y);
  const start = (freeAt[position % slots] as number) + Math.floor(position / slots) * buildSeconds;
  return whole(start + buildSeconds);
}

/**
 * Seconds until a running build is done: the median of every stage still
 * ahead, plus what is left of the current one judged by the time it has run
 * so far (never below zero, never above the stage's median).
 */
export function startedEta(
  stage: string,
  elapsedSeconds: number | undefined,
  inputs: EtaInputs,
): number {
  const index = TIMED_STAGES.indexOf(stage as TimedStage);
  if (index === -1) return whole(inputs.buildSeconds);
  const seconds = TIMED_STAGES.map((name) => inputs.stageSeconds[name]);
  const ahead = seconds.slice(index + 1).reduce((sum, value) => sum + value, 0);
  const current = seconds[index] as number;
  const expectedByEndOfCurrent = seconds.slice(0, index + 1).reduce((sum, value) => sum + value, 0);
  const left =
    elapsedSeconds === undefined
      ? current / 2
      : Math.min(current, Math.max(0, expectedByEndOfCurrent - elapsedSeconds));
  return whole(ahead + left);
}
