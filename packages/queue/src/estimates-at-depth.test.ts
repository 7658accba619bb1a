import { describe, expect, it } from "vitest";
import { etaInputs, queuedEta, TIMED_STAGES } from "./build-eta.ts";

/** A small seeded generator (mulberry32): the same queue on every run. */
function seeded(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Build times of one ImageBuilder target under load: log-normal around a
 * median, spread σ (0.3: a quarter of builds 25 % faster or slower than the
 * median, a few twice as long).
 */
function durationsFrom(random: () => number, medianSeconds: number, sigma: number) {
  return () => {
    const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    return medianSeconds * Math.exp(sigma * normal);
  };
}

interface Arrival {
  client: string;
  at: number;
}

interface Outcome {
  client: string;
  eta: number;
  wait: number;
}

interface Waiting {
  priority: number;
  seq: number;
  client: string;
  arrival: number;
  eta: number;
  duration: number;
}

/**
 * The queue as BullMQ's priorities order it under fair turns: a client's
 * k-th waiting build has priority k, equal priorities in arrival order.
 * `slots` builds run at once. Each build's estimate is taken as it is
 * enqueued, from what the build tier sees then (its position, the running
 * builds' ages, the durations of builds done), and set against the time
 * it really finished.
 */
function simulate(slots: number, arrivals: readonly Arrival[], draw: () => number, past: number[]) {
  const queue: Waiting[] = [];
  const running: { start: number; end: number; duration: number }[] = [];
  const done = [...past];
  const outcomes: Outcome[] = [];
  const waitingOf = new Map<string, number>();
  let clock = 0;
  const startNext = (at: number) => {
    const job = queue.shift() as Waiting;
    waitingOf.set(job.client, (waitingOf.get(job.client) ?? 1) - 1);
    running.push({ start: at, end: at + job.duration, duration: job.duration });
    outcomes.push({ client: job.client, eta: job.eta, wait: at + job.duration - job.arrival });
  };
  // Runs the slots up to `until`: builds end, the next ones start.
  const advance = (until: number) => {
    for (;;) {
      while (running.length < slots && queue.length > 0) startNext(clock);
      if (running.length === 0) break;
      const next = running.reduce((a, b) => (a.end <= b.end ? a : b));
      if (next.end > until) break;
      clock = next.end;
      running.splice(running.indexOf(next), 1);
      done.unshift(next.duration);
    }
    clock = Math.max(clock, until);
  };
  arrivals.forEach((arrival, seq) => {
    advance(arrival.at);
    const priority = (waitingOf.get(arrival.client) ?? 0) + 1;
    waitingOf.set(arrival.client, priority);
    let position = queue.findIndex((job) => job.priority > priority);
    if (position === -1) position = queue.length;
    const recent = done.slice(0, 50);
    const inputs = etaInputs(
      [{ concurrency: slots, state: "busy" }],
      running.map((job) => arrival.at - job.start),
      { total: recent, ...Object.fromEntries(TIMED_STAGES.map((stage) => [stage, []])) },
    );
    const eta = queuedEta(position, inputs);
    queue.splice(position, 0, {
      ...arrival,
      priority,
      seq,
      arrival: arrival.at,
      eta,
      duration: draw(),
    });
  });
  advance(Number.POSITIVE_INFINITY);
  return outcomes;
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

function errors(outcomes: readonly Outcome[]) {
  const relative = outcomes.map((o) => Math.abs(o.eta - o.wait) / o.wait);
  return { median: quantile(relative, 0.5), p90: quantile(relative, 0.9) };
}

/**
 * `flood` builds from one client and `others` clients' builds, `each`
 * apiece: the flood first and the others after it (`late`), or all posting
 * at once, their arrivals interleaved.
 */
function burst(random: () => number, shape: Shape, gap: number) {
  const { flood, others, each, late } = shape;
  const rest = Array.from({ length: others * each }, (_, i) => `c${i % others}`);
  const floods = Array.from({ length: flood }, () => "flood");
  const clients = late
    ? [...floods, ...shuffled(random, rest)]
    : shuffled(random, [...floods, ...rest]);
  return clients.map((client, i) => ({ client, at: i * gap }));
}

function shuffled<T>(random: () => number, values: T[]): T[] {
  for (let i = values.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [values[i], values[j]] = [values[j] as T, values[i] as T];
  }
  return values;
}

interface Shape {
  flood: number;
  others: number;
  each: number;
  late: boolean;
}

/** The goal: within 25 % of the real wait at the median and 50 % at p90. */
const GOAL = { median: 0.25, p90: 0.5 };
/**
 * Builds that arrive later and jump ahead of waiting ones (another client's
 * k-th build before a flood's (k+1)-th) lengthen the flood's waits, and an
 * estimate taken at enqueue cannot know of them (a poll's estimate later
 * does). Where clients post after a flood, or interleaved with it, the
 * flood's estimates are short by the jumps: these bounds are today's figures
 * with a margin, guarding against a worse estimate, not the goal.
 */
const JUMPED = { median: 0.5, p90: 0.85 };

const scenarios: { name: string; shape: Shape; bound: typeof GOAL }[] = [
  {
    name: "200 from one client",
    shape: { flood: 200, others: 0, each: 0, late: true },
    bound: GOAL,
  },
  {
    name: "5,000 from one client",
    shape: { flood: 5000, others: 0, each: 0, late: true },
    bound: GOAL,
  },
  {
    name: "200: 180 from one client, then 20 from another (the issue's drain)",
    shape: { flood: 180, others: 1, each: 20, late: true },
    bound: GOAL,
  },
  {
    name: "5,000: 200 clients' 25 each, interleaved",
    shape: { flood: 0, others: 200, each: 25, late: true },
    bound: GOAL,
  },
  {
    name: "200: 150 from one client, then 5 others' 10 each",
    shape: { flood: 150, others: 5, each: 10, late: true },
    bound: JUMPED,
  },
  {
    name: "200: 100 from one client and 100 others' 1 each, interleaved",
    shape: { flood: 100, others: 100, each: 1, late: false },
    bound: JUMPED,
  },
  {
    name: "5,000: 4,500 from one client, then 500 from another",
    shape: { flood: 4500, others: 1, each: 500, late: true },
    bound: JUMPED,
  },
  {
    name: "5,000: 3,000 from one client, then 50 others' 40 each",
    shape: { flood: 3000, others: 50, each: 40, late: true },
    bound: JUMPED,
  },
  {
    name: "5,000: 1,000 from one client and 2,000 others' 2 each, interleaved",
    shape: { flood: 1000, others: 2000, each: 2, late: false },
    bound: JUMPED,
  },
];

describe("estimates at enqueue against the real waits, under fair turns", () => {
  for (const { name, shape, bound } of scenarios) {
    it(name, () => {
      const random = seeded(22);
      const draw = durationsFrom(random, 60, 0.3);
      const past = Array.from({ length: 50 }, draw);
      const outcomes = simulate(2, burst(random, shape, 0.01), draw, past);
      const { median: mid, p90 } = errors(outcomes);
      // The figures, for bench/README.md when the estimate changes.
      console.log(`${name}: median ${mid.toFixed(3)}, p90 ${p90.toFixed(3)}`);
      expect(outcomes).toHaveLength(shape.flood + shape.others * shape.each);
      expect(mid).toBeLessThanOrEqual(bound.median);
      expect(p90).toBeLessThanOrEqual(bound.p90);
    });
  }
});
