import type { Logger } from "@asu/observability";
import {
  type BuildJobData,
  type BuildProgress,
  type BuildResult,
  type BuildStage,
  type Heartbeat,
  jobRequest,
  recordDurations,
  recordExpiry,
} from "@asu/queue";
import { appendErrorLog, errorLogEntry, type StatsEntry, type StatsRecorder } from "@asu/stats";
import { type Job, UnrecoverableError, WaitingError } from "bullmq";
import { FAILURE_DETAILS } from "./build-failure.ts";
import { type BuildContext, type BuildDependencies, runBuild } from "./build-steps.ts";
import { classifyBuildError } from "./failure-signals.ts";
import type { PodmanWatch } from "./podman-availability.ts";
import type { WorkerMetrics } from "./worker-metrics.ts";

/*
 * The BullMQ side of a build: takes the job, reports its stages as the
 * job's progress, times them, and turns the steps' outcome (build-steps.ts)
 * into the job's result, a retry, a failure with the contract's text, or a
 * job handed back to the queue.
 */

/** What the processor adds to the steps' dependencies. */
export interface ProcessorDependencies extends BuildDependencies {
  logger: Logger;
  heartbeat?: Heartbeat;
  /** Tells a failure of ours from an unreachable Podman API, whose builds are handed back. */
  podman?: Pick<PodmanWatch, "confirm">;
  /** Job outcomes, build and stage durations, busy/idle (Prometheus). */
  metrics?: WorkerMetrics;
  /** SERVER_STATS: successes, failures, builds per version, stage durations. */
  stats?: StatsRecorder;
}

/** The abort reasons a build tells apart. */
class BuildTimedOut extends Error {}
class WorkerStopping extends Error {}

type BuildJob = Job<BuildJobData, BuildResult>;

/**
 * Times the stages of one build: each stage ends when the next begins, the
 * last one when the build ends. Durations go to the stage histogram at once
 * and are kept for the statistics of a successful build.
 */
function stageClock(metrics: WorkerMetrics | undefined) {
  let current: { stage: BuildStage; since: number } | undefined;
  const timed: StatsEntry[] = [];
  const end = () => {
    if (!current) return;
    const seconds = (performance.now() - current.since) / 1000;
    metrics?.stageDuration.observe({ stage: current.stage }, seconds);
    timed.push({ kind: "stage", stage: current.stage, seconds });
    current = undefined;
  };
  return {
    enter(stage: BuildStage) {
      end();
      current = { stage, since: performance.now() };
    },
    /** Ends the running stage; the stage durations so far, as stats entries. */
    finish(): StatsEntry[] {
      end();
      return timed;
    },
  };
}

/** The stage entries of a build's statistics as durations for the wait estimates. */
const stageTimes = (entries: StatsEntry[]) =>
  entries.flatMap((entry) => (entry.kind === "stage" ? [entry] : []));

/** Classifier reasons that can mean the Podman API itself is gone: only these ask it. */
const PODMAN_REASONS = new Set([
  "podman_unreachable",
  "podman_timeout",
  "podman_error",
  "container_gone",
  "internal",
]);

type Finished = (outcome: "success" | "failure" | "retried", seconds: number) => void;

/** One build as it runs: its job data, log, abort controller, stage clock and the steps' context. */
interface Run {
  job: BuildJob;
  token: string | undefined;
  data: BuildJobData;
  log: Logger;
  controller: AbortController;
  clock: ReturnType<typeof stageClock>;
  context: BuildContext;
  progress(value: BuildProgress): Promise<void>;
  started: number;
  /** Stops the time limit and the cancel listener. */
  dispose(): void;
}

/** Starts a run: the time limit, the worker's cancel, and stages reported as progress. */
function startRun(
  deps: ProcessorDependencies,
  job: BuildJob,
  token: string | undefined,
  cancel: AbortSignal | undefined,
): Run {
  const timeoutSeconds = deps.settings.jobTimeoutSeconds;
  const data = { ...job.data, request: jobRequest(job.data) };
  const log = deps.logger.child({
    request_hash: data.requestHash,
    request_id: data.requestId ?? null,
  });
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new BuildTimedOut(`over ${timeoutSeconds} s`)),
    timeoutSeconds * 1000,
  );
  const onCancel = () => controller.abort(new WorkerStopping(String(cancel?.reason ?? "")));
  if (cancel?.aborted) onCancel();
  cancel?.addEventListener("abort", onCancel, { once: true });
  const progress = async (value: BuildProgress) => {
    await job.updateProgress(value as unknown as object);
  };
  const clock = stageClock(deps.metrics);
  const context: BuildContext = {
    deps,
    data,
    log,
    signal: controller.signal,
    async stage(stage) {
      if (controller.signal.aborted) throw controller.signal.reason;
      clock.enter(stage);
      log.info({ stage }, "build stage");
      await progress({ imagebuilder_status: stage });
    },
  };
  const dispose = () => {
    clearTimeout(timer);
    cancel?.removeEventListener("abort", onCancel);
  };
  return {
    job,
    token,
    data,
    log,
    controller,
    clock,
    context,
    progress,
    started: Date.now(),
    dispose,
  };
}

/** The result kept, its expiry set, and the build counted and timed. */
async function succeeded(deps: ProcessorDependencies, run: Run, finished: Finished) {
  const { data, log, started } = run;
  const stages = run.clock.finish();
  await run.progress({ imagebuilder_status: "done" });
  await recordExpiry(deps.redis, data.requestHash, Date.now(), data.resultTtl);
  log.info({ ms: Date.now() - started }, "build done");
  const seconds = (Date.now() - started) / 1000;
  finished("success", seconds);
  deps.stats?.record(
    { kind: "event", event: "successes" },
    { kind: "build", version: data.request.version },
    ...stages,
    { kind: "stage", stage: "total", seconds },
  );
  await deps.stats?.flush();
  await recordDurations(deps.redis, [...stageTimes(stages), { stage: "total", seconds }]).catch(
    (error: Error) => log.warn({ err: error.message }, "recording build durations failed"),
  );
}

/**
 * The job back in the queue, for another worker or this one later. A build
 * this worker gave up on shows polls "queued" again (`init`).
 */
async function handBack(
  deps: ProcessorDependencies,
  run: Run,
  message: string,
  options: { reset: boolean; fields?: object },
): Promise<never> {
  run.log.warn(options.fields ?? {}, message);
  deps.metrics?.jobsFinished.inc({ outcome: "requeued" });
  if (options.reset) await run.job.updateProgress({ imagebuilder_status: "init" });
  await run.job.moveToWait(run.token);
  throw new WaitingError();
}

function logFailure(
  log: Logger,
  error: unknown,
  outcome: ReturnType<typeof classifyBuildError>,
  logged: Record<string, unknown>,
  retried: boolean,
) {
  if (outcome.verdict.reason === "internal") {
    log.error({ err: error, ...logged }, "build failed unexpectedly");
  } else if (outcome.failure.detail === FAILURE_DETAILS.internal) {
    // Ours, and known (Podman, disk): the message is enough.
    log.warn({ err: (error as Error)?.message, ...logged }, "build failed");
  } else {
    log.info(logged, retried ? "build failed, will be retried" : "build failed");
  }
}

/** A failure that no attempt follows: counted, shown to polls, logged and given its expiry. */
async function recordFailure(
  deps: ProcessorDependencies,
  run: Run,
  { failure, verdict }: ReturnType<typeof classifyBuildError>,
): Promise<never> {
  const { data } = run;
  deps.stats?.record(
    { kind: "event", event: "failures" },
    { kind: "event", event: `failures-${verdict.kind}` },
  );
  await deps.stats?.flush();
  await run.progress({
    imagebuilder_status: "failed",
    detail: failure.detail,
    stdout: failure.stdout,
    stderr: failure.stderr,
    failure_kind: verdict.kind,
    failure_reason: verdict.reason,
  });
  await appendErrorLog(
    deps.redis,
    errorLogEntry(data.request, failure.detail, Date.now(), verdict.kind),
  );
  await recordExpiry(deps.redis, data.requestHash, Date.now(), data.failureTtl);
  // The request's own failure is its answer: no attempt can change it.
  if (verdict.kind === "request") throw new UnrecoverableError(failure.detail);
  throw new Error(failure.detail);
}

/** A build that threw: handed back, retried, or failed with the contract's text. */
async function failed(
  deps: ProcessorDependencies,
  run: Run,
  error: unknown,
  finished: Finished,
): Promise<never> {
  const { job, controller } = run;
  if (controller.signal.reason instanceof WorkerStopping) {
    return handBack(deps, run, "worker stopping: build handed back to the queue", {
      reset: false,
    });
  }
  const timedOut = controller.signal.reason instanceof BuildTimedOut;
  const outcome = classifyBuildError(error, {
    timedOutAfter: timedOut ? deps.settings.jobTimeoutSeconds : undefined,
  });
  const { failure, verdict } = outcome;
  const ms = Date.now() - run.started;
  run.clock.finish();
  // A Podman API that does not answer is no verdict on anything: the
  // build goes back to the queue while this worker waits for it.
  if (PODMAN_REASONS.has(verdict.reason) && deps.podman && !(await deps.podman.confirm())) {
    return handBack(deps, run, "podman unreachable: build handed back to the queue", {
      reset: true,
      fields: { reason: verdict.reason, ms },
    });
  }
  deps.metrics?.buildFailures.inc({ kind: verdict.kind, reason: verdict.reason });
  const attempts = job.opts.attempts ?? 1;
  const retried = verdict.kind === "infrastructure" && job.attemptsMade + 1 < attempts;
  const logged = {
    detail: failure.detail,
    failure_kind: verdict.kind,
    failure_reason: verdict.reason,
    attempt: job.attemptsMade + 1,
    attempts,
    ms,
  };
  logFailure(run.log, error, outcome, logged, retried);
  finished(retried ? "retried" : "failure", ms / 1000);
  if (retried) {
    // BullMQ delays the job by the backoff; polls meanwhile answer "queued".
    await job.updateProgress({ imagebuilder_status: "init" });
    throw new Error(failure.detail);
  }
  return recordFailure(deps, run, outcome);
}

/**
 * The BullMQ processor. Success stores the result as the job's return
 * value; failure leaves the contract's detail with the failing step's output
 * in the progress and fails the job with the detail as reason. When the
 * worker stops (BullMQ cancels the job) the build is handed back to the queue.
 */
export function createBuildProcessor(deps: ProcessorDependencies) {
  const { metrics } = deps;
  let running = 0;
  const setRunning = (delta: number) => {
    running += delta;
    metrics?.buildsRunning.set(running);
    metrics?.workerBusy.set(running > 0 ? 1 : 0);
  };
  const finished: Finished = (outcome, seconds) => {
    metrics?.jobsFinished.inc({ outcome });
    metrics?.buildDuration.observe({ outcome }, seconds);
  };

  return async function processBuild(
    job: BuildJob,
    token: string | undefined,
    cancel: AbortSignal | undefined,
  ): Promise<BuildResult> {
    const run = startRun(deps, job, token, cancel);
    const { data, log } = run;
    deps.heartbeat?.buildStarted(data.requestHash);
    setRunning(1);
    log.info({ image: data.image, worker: deps.workerId }, "build started");
    try {
      await run.context.stage("init");
      const result = await runBuild(run.context);
      await succeeded(deps, run, finished);
      return result;
    } catch (error) {
      return await failed(deps, run, error, finished);
    } finally {
      run.dispose();
      deps.heartbeat?.buildFinished(data.requestHash);
      setRunning(-1);
    }
  };
}
