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

/**
 * The BullMQ processor. Success stores the result as the job's return
 * value; failure leaves the contract's detail with the failing step's output
 * in the progress and fails the job with the detail as reason. When the
 * worker stops (BullMQ cancels the job) the build is handed back to the queue.
 */
export function createBuildProcessor(deps: ProcessorDependencies) {
  const timeoutSeconds = deps.settings.jobTimeoutSeconds;
  const { metrics } = deps;
  let running = 0;
  const setRunning = (delta: number) => {
    running += delta;
    metrics?.buildsRunning.set(running);
    metrics?.workerBusy.set(running > 0 ? 1 : 0);
  };
  const finished = (outcome: "success" | "failure" | "retried", seconds: number) => {
    metrics?.jobsFinished.inc({ outcome });
    metrics?.buildDuration.observe({ outcome }, seconds);
  };

  return async function processBuild(
    job: BuildJob,
    token: string | undefined,
    cancel: AbortSignal | undefined,
  ): Promise<BuildResult> {
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
    const clock = stageClock(metrics);
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

    const started = Date.now();
    deps.heartbeat?.buildStarted(data.requestHash);
    setRunning(1);
    log.info({ image: data.image, worker: deps.workerId }, "build started");
    try {
      await context.stage("init");
      const result = await runBuild(context);
      const stages = clock.finish();
      await progress({ imagebuilder_status: "done" });
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
      return result;
    } catch (error) {
      if (controller.signal.reason instanceof WorkerStopping) {
        log.warn("worker stopping: build handed back to the queue");
        metrics?.jobsFinished.inc({ outcome: "requeued" });
        await job.moveToWait(token);
        throw new WaitingError();
      }
      const timedOut = controller.signal.reason instanceof BuildTimedOut;
      const { failure, verdict } = classifyBuildError(error, {
        timedOutAfter: timedOut ? timeoutSeconds : undefined,
      });
      const ms = Date.now() - started;
      clock.finish();
      // A Podman API that does not answer is no verdict on anything: the
      // build goes back to the queue while this worker waits for it.
      if (PODMAN_REASONS.has(verdict.reason) && deps.podman && !(await deps.podman.confirm())) {
        log.warn(
          { reason: verdict.reason, ms },
          "podman unreachable: build handed back to the queue",
        );
        metrics?.jobsFinished.inc({ outcome: "requeued" });
        await job.updateProgress({ imagebuilder_status: "init" });
        await job.moveToWait(token);
        throw new WaitingError();
      }
      metrics?.buildFailures.inc({ kind: verdict.kind, reason: verdict.reason });
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
      if (verdict.reason === "internal") {
        log.error({ err: error, ...logged }, "build failed unexpectedly");
      } else if (failure.detail === FAILURE_DETAILS.internal) {
        // Ours, and known (Podman, disk): the message is enough.
        log.warn({ err: (error as Error)?.message, ...logged }, "build failed");
      } else {
        log.info(logged, retried ? "build failed, will be retried" : "build failed");
      }
      finished(retried ? "retried" : "failure", ms / 1000);
      if (retried) {
        // BullMQ delays the job by the backoff; polls meanwhile answer "queued".
        await job.updateProgress({ imagebuilder_status: "init" });
        throw new Error(failure.detail);
      }
      deps.stats?.record(
        { kind: "event", event: "failures" },
        { kind: "event", event: `failures-${verdict.kind}` },
      );
      await deps.stats?.flush();
      await progress({
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
    } finally {
      clearTimeout(timer);
      cancel?.removeEventListener("abort", onCancel);
      deps.heartbeat?.buildFinished(data.requestHash);
      setRunning(-1);
    }
  };
}
