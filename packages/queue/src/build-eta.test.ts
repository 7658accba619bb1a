import { describe, expect, it } from "vitest";
import {
  DEFAULT_STAGE_SECONDS,
  type DurationHistory,
  etaInputs,
  median,
  queuedEta,
  startedEta,
  TIMED_STAGES,
  type TimedStage,
} from "./build-eta.ts";

const worker = (concurrency: number, state = "idle") => ({ concurrency, state });

/** Each stage's share of a build, as a real ImageBuilder splits it roughly. */
const SHARES: Record<TimedStage, number> = {
  init: 0.01,
  container_setup: 0.1,
  validate_revision: 0.09,
  validate_manifest: 0.15,
  building_image: 0.65,
};

function historyOf(durations: readonly number[]): DurationHistory {
  return {
    total: durations,
    ...Object.fromEntries(
      TIMED_STAGES.map((stage) => [stage, durations.map((d) => d * SHARES[stage])]),
    ),
  };
}

/** The stage a build of `duration` seconds is in after `elapsed` seconds. */
function stageAt(duration: number, elapsed: number): TimedStage {
  let end = 0;
  for (const stage of TIMED_STAGES) {
    end += duration * SHARES[stage];
    if (elapsed < end) return stage;
  }
  return "building_image";
}

describe("median", () => {
  it("is the middle value, or the mean of the two middle ones", () => {
    expect(median([])).toBeUndefined();
    expect(median([3])).toBe(3);
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});

describe("etaInputs", () => {
  it("uses the documented defaults before any build finished", () => {
    const inputs = etaInputs([], [], {});
    expect(inputs.slots).toBe(1);
    expect(inputs.stageSeconds).toEqual(DEFAULT_STAGE_SECONDS);
    expect(inputs.buildSeconds).toBe(86);
    expect(queuedEta(0, inputs)).toBe(86);
    expect(startedEta("init", 0, inputs)).toBe(86);
  });

  it("counts the slots of workers online, not of stopping ones", () => {
    const inputs = etaInputs(
      [worker(2), worker(1, "busy"), worker(4, "stopping")],
      [5, 1, 9, 2],
      historyOf([10]),
    );
    expect(inputs.slots).toBe(3);
    expect(inputs.running).toEqual([9, 5, 2]);
    expect(inputs.buildSeconds).toBe(10);
  });
});

describe("queuedEta", () => {
  const inputs = (slots: number, running: number[]) =>
    etaInputs([worker(slots)], running, historyOf([10]));

  it("is one build while a slot is free", () => {
    expect(queuedEta(0, inputs(2, [4]))).toBe(10);
    expect(queuedEta(1, inputs(2, []))).toBe(10);
  });

  it("waits for the slot that frees first, then whole rounds", () => {
    expect(queuedEta(0, inputs(2, [4, 7]))).toBe(13);
    expect(queuedEta(1, inputs(2, [4, 7]))).toBe(16);
    expect(queuedEta(2, inputs(2, [4, 7]))).toBe(23);
    expect(queuedEta(5, inputs(2, [4, 7]))).toBe(36);
  });

  it("never counts an overdue build as freeing its slot later than now", () => {
    expect(queuedEta(0, inputs(1, [25]))).toBe(10);
  });
});

describe("startedEta", () => {
  const inputs = etaInputs([worker(1)], [], historyOf([100]));

  it("adds the stages still ahead to what is left of the current one", () => {
    expect(startedEta("init", 0, inputs)).toBe(100);
    expect(startedEta("validate_manifest", 20, inputs)).toBe(80);
    expect(startedEta("building_image", 50, inputs)).toBe(50);
  });

  it("never counts more than the current stage's median for it, nor less than nothing", () => {
    expect(startedEta("validate_manifest", 0, inputs)).toBe(80);
    expect(startedEta("validate_manifest", 90, inputs)).toBe(65);
    expect(startedEta("building_image", 500, inputs)).toBe(1);
  });
});

interface Sample {
  at: number;
  job: number;
  eta: number;
  actual: number;
  /** Running, and the first sample since it entered its stage. */
  stageEntered: boolean;
  queued: boolean;
}

/**
 * A queue of known durations, run in simulated time: `slots` builds at once,
 * first come first served. Every second each unfinished build's estimate —
 * from what the server sees then: its position or stage, the running builds'
 * ages and the durations of builds already done — is set against when it
 * really finishes.
 */
function simulate(slots: number, durations: number[], past: number[]): Sample[] {
  const freeAt = Array.from({ length: slots }, () => 0);
  const jobs = durations.map((duration) => {
    const slot = freeAt.indexOf(Math.min(...freeAt));
    const start = freeAt[slot] as number;
    freeAt[slot] = start + duration;
    return { duration, start, end: start + duration, stage: "" };
  });
  const last = Math.max(...jobs.map((job) => job.end));
  const samples: Sample[] = [];
  for (let at = 0; at < last; at++) {
    const done = jobs.filter((job) => job.end <= at).map((job) => job.duration);
    const running = jobs.filter((job) => job.start <= at && at < job.end);
    const inputs = etaInputs(
      [worker(slots)],
      running.map((job) => at - job.start),
      historyOf([...past, ...done]),
    );
    let position = 0;
    for (const [index, job] of jobs.entries()) {
      if (job.end <= at) continue;
      const sample = { at, job: index, actual: job.end - at };
      if (job.start > at) {
        samples.push({
          ...sample,
          eta: queuedEta(position++, inputs),
          queued: true,
          stageEntered: false,
        });
        continue;
      }
      const stage = stageAt(job.duration, at - job.start);
      const eta = startedEta(stage, at - job.start, inputs);
      samples.push({ ...sample, eta, queued: false, stageEntered: stage !== job.stage });
      job.stage = stage;
    }
  }
  return samples;
}

const relativeError = (sample: Sample) => Math.abs(sample.eta - sample.actual) / sample.actual;

function worst(samples: readonly Sample[], error: (sample: Sample) => number) {
  return samples.reduce((a, b) => (error(a) >= error(b) ? a : b));
}

describe("estimates against a queue of known durations", () => {
  // Builds of one small ImageBuilder target vary by about ±30 % under load.
  const durations = [
    31, 42, 28, 36, 45, 30, 33, 39, 27, 44, 35, 29, 40, 32, 38, 34, 26, 43, 37, 30,
  ];
  const past = [34, 29, 41, 36, 30, 38, 33, 27, 44, 35];
  const typical = median(past) as number;

  for (const slots of [1, 2, 4]) {
    it(`stay within 50 % of the real wait with ${slots} slot(s) once history exists`, () => {
      const samples = simulate(slots, durations, past);
      const queued = samples.filter((sample) => sample.queued);
      const entered = samples.filter((sample) => sample.stageEntered);
      const running = samples.filter((sample) => !sample.queued);
      expect(queued.length).toBeGreaterThan(100);
      expect(entered.length).toBeGreaterThanOrEqual(durations.length * 4);

      // Every queued answer, and every running build's as it enters a stage.
      for (const sample of [worst(queued, relativeError), worst(entered, relativeError)]) {
        expect(relativeError(sample), JSON.stringify(sample)).toBeLessThanOrEqual(0.5);
      }
      // Within a stage the build's own speed is unknown: the last seconds of a
      // quick build cannot be judged in percent, but never off by half a build.
      const absolute = (sample: Sample) => Math.abs(sample.eta - sample.actual);
      const furthest = worst(running, absolute);
      expect(absolute(furthest), JSON.stringify(furthest)).toBeLessThanOrEqual(typical / 2);
    });
  }
});
