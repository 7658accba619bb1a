// Where the time of one server build goes: named moments of the build path,
// read from the client's polls, BullMQ's job stamps, the worker's container
// API calls and its log, all on this process's performance.now() clock.
import { MERGED_STEP, type TraceEvent } from "./docker-trace.ts";
import { median } from "./figures.ts";
import type { JobTimes } from "./job-times.ts";
import type { LogEntry } from "./log-capture.ts";
import type { TimedBuild } from "./timed-build.ts";

export interface BuildObservation {
  timed: TimedBuild;
  job: JobTimes;
  events: readonly TraceEvent[];
  logs: readonly LogEntry[];
}

export interface Phase {
  /** What had happened by the end of the phase. */
  until: string;
  ms: number;
}

const MAKE_COMMANDS = ["make info", "make manifest", "make image", MERGED_STEP];

function lastEnd(events: readonly TraceEvent[], match: (event: TraceEvent) => boolean) {
  const found = events.filter(match);
  return found.length === 0 ? undefined : Math.max(...found.map((event) => event.end));
}

/**
 * The moments in the order the build path passes them; a missing one is
 * skipped. The POST's answer is not one: the worker often takes the job
 * before the answer reaches the client.
 */
function moments(observation: BuildObservation): [string, number | undefined][] {
  const { timed, job, events } = observation;
  const binDir = `/builder/${timed.requestHash}`;
  const exec = (command: string) =>
    lastEnd(events, (e) => e.call === "Exec.inspect" && e.detail === command);
  return [
    ["worker took the job", job.startedAt],
    ["image found", lastEnd(events, (e) => e.call === "Image.inspect")],
    ["container created", lastEnd(events, (e) => e.call === "Docker.createContainer")],
    ["container started", lastEnd(events, (e) => e.call === "Container.start")],
    ...MAKE_COMMANDS.map((command): [string, number | undefined] => [
      `${command} done`,
      exec(command),
    ]),
    [
      "profiles.json read",
      lastEnd(events, (e) => e.call === "Container.getArchive stream" && e.detail !== binDir),
    ],
    [
      "BIN_DIR copied out",
      lastEnd(events, (e) => e.call === "Container.getArchive stream" && e.detail === binDir),
    ],
    ["container removed", lastEnd(events, (e) => e.call === "Container.remove")],
    ["job finished", job.finishedAt],
    ["client saw 200", timed.doneAt],
  ];
}

export function phasesOf(observation: BuildObservation): Phase[] {
  const phases: Phase[] = [];
  let previous = observation.timed.postedAt;
  for (const [until, at] of moments(observation)) {
    if (at === undefined) continue;
    phases.push({ until, ms: at - previous });
    previous = at;
  }
  return phases;
}

/** How long each make command itself ran: from exec start to the end of its output. */
export function commandTimes(events: readonly TraceEvent[]): Map<string, number> {
  const times = new Map<string, number>();
  for (const event of events) {
    if (event.call === "Exec.start stream" && MAKE_COMMANDS.includes(event.detail)) {
      times.set(event.detail, event.end - event.start);
    }
  }
  return times;
}

/** Median run time of each make command over several builds. */
export function medianCommandTimes(observations: readonly BuildObservation[]): Map<string, number> {
  return new Map(
    MAKE_COMMANDS.map((command) => [
      command,
      median(observations.map((o) => commandTimes(o.events).get(command) ?? Number.NaN)),
    ]),
  );
}

/** Median of every phase over several builds, in path order. */
export function medianPhases(observations: readonly BuildObservation[]): Phase[] {
  const byName = new Map<string, number[]>();
  for (const observation of observations) {
    for (const phase of phasesOf(observation)) {
      byName.set(phase.until, [...(byName.get(phase.until) ?? []), phase.ms]);
    }
  }
  return [...byName].map(([until, values]) => ({ until, ms: median(values) }));
}

export function printPhases(
  title: string,
  phases: readonly Phase[],
  commands: Map<string, number>,
) {
  console.log(title);
  const total = phases.reduce((sum, phase) => sum + phase.ms, 0);
  for (const phase of phases) {
    const command = commands.get(phase.until.replace(/ done$/, ""));
    const inside = command === undefined ? "" : `  (command itself ${command.toFixed(0)} ms)`;
    console.log(
      `  ${phase.ms.toFixed(1).padStart(7)} ms  ${((phase.ms / total) * 100).toFixed(0).padStart(3)}%  → ${phase.until}${inside}`,
    );
  }
  console.log(`  ${total.toFixed(1).padStart(7)} ms  total`);
}

/** Every container API call and worker log line of one build, relative to its POST. */
export function printTimeline(observation: BuildObservation) {
  const origin = observation.timed.postedAt;
  const rows: { at: number; text: string }[] = [
    ...observation.events.map((event) => ({
      at: event.end,
      text: `${event.call}${event.detail ? ` [${event.detail}]` : ""} took ${(event.end - event.start).toFixed(1)} ms${event.failed ? " (failed)" : ""}`,
    })),
    ...observation.logs.map((entry) => {
      const extra = ["stage", "command", "ms"]
        .filter((key) => entry[key] !== undefined)
        .map((key) => `${key}=${String(entry[key])}`)
        .join(" ");
      return { at: entry.at, text: `log: ${entry.msg}${extra ? ` ${extra}` : ""}` };
    }),
    { at: observation.timed.answeredAt, text: "POST answered" },
    ...observation.timed.stages
      .slice(1)
      .map((seen) => ({ at: seen.at, text: `poll saw ${seen.stage}` })),
    { at: observation.job.startedAt, text: "BullMQ processedOn" },
    { at: observation.job.finishedAt, text: "BullMQ finishedOn" },
  ].sort((a, b) => a.at - b.at);
  console.log("timeline of that build (ms after the POST was sent; calls listed when they ended):");
  for (const row of rows) {
    console.log(`  +${(row.at - origin).toFixed(1).padStart(7)}  ${row.text}`);
  }
}
