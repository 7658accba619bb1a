/**
 * Whose fault a failed build is. `request`: the request itself cannot build
 * (impossible selection, too big, revision mismatch); it is cached as the
 * answer. `infrastructure`: ours (registry, Podman, disk, downloads, time
 * limit); it is retried and never served to a new request.
 */
export const FAILURE_KINDS = ["request", "infrastructure"] as const;
export type FailureKind = (typeof FAILURE_KINDS)[number];

/** The ImageBuilder steps whose output can tell a download failure. */
export type ImagebuilderStep = "setup" | "info" | "manifest" | "image" | "signing";

/**
 * What is known about a failure, structured first: the error's class and
 * errno, the container API's HTTP status, the container's end, the job's
 * fate. `stderr` (with the step) is read only by the last-resort rules.
 */
export interface FailureSignals {
  /** Node's errno code of the error, e.g. `ENOSPC`, `ECONNREFUSED`. */
  errno?: string;
  /** HTTP status of a failed container API call (dockerode's `statusCode`). */
  apiStatus?: number;
  /** The error's class (`name`), e.g. `AbortError`, `TimeoutError`. */
  errorClass?: string;
  /** Exit code of the ImageBuilder command that failed. */
  exitCode?: number;
  /** The container was OOM-killed. */
  oomKilled?: boolean;
  /**
   * A command's output shows the build container ran out of a resource
   * (`/builder` full, memory, processes), whatever its exit code.
   */
  exhausted?: ExhaustedResource;
  /** The build container was no longer running when a command ended. */
  containerDied?: boolean;
  /** JOB_TIMEOUT ended the build. */
  timedOut?: boolean;
  /** The job's worker disappeared (BullMQ stalled). */
  workerLost?: boolean;
  /** Neither the image nor any fallback image exists. */
  imageMissing?: boolean;
  /** The failure was not one of the steps' own verdicts (an exception of ours). */
  unexpected?: boolean;
  step?: ImagebuilderStep;
  stderr?: string;
}

/** What a build can run out of inside its container. */
export type ExhaustedResource = "disk" | "memory" | "processes";

type FlagSignal =
  | "oomKilled"
  | "containerDied"
  | "timedOut"
  | "workerLost"
  | "imageMissing"
  | "unexpected";

/** One infrastructure rule: a condition on one signal and the name logs and metrics use. */
export type FailureRule =
  | { reason: string; flag: FlagSignal }
  | { reason: string; exhausted: ExhaustedResource }
  | { reason: string; errno: readonly string[] }
  | { reason: string; errorClass: readonly string[] }
  | { reason: string; apiStatus: { min: number; max: number } }
  | { reason: string; exitCode: readonly number[] }
  | { reason: string; failedStep: readonly ImagebuilderStep[] }
  | { reason: string; stderr: RegExp; steps?: readonly ImagebuilderStep[] };

const DOWNLOAD_STEPS: readonly ImagebuilderStep[] = ["setup", "info", "manifest", "image"];

/**
 * Infrastructure failures, structured signals first; the first rule that
 * matches names the reason. Anything no rule matches is the request's.
 * Adding a case is one line here and one case in the test.
 */
export const INFRASTRUCTURE_RULES: readonly FailureRule[] = [
  { reason: "job_timeout", flag: "timedOut" },
  { reason: "worker_lost", flag: "workerLost" },
  { reason: "image_missing", flag: "imageMissing" },
  { reason: "oom_killed", flag: "oomKilled" },
  { reason: "container_died", flag: "containerDied" },
  // The builder's disk, memory or process table full: never the request's verdict.
  { reason: "out_of_disk", exhausted: "disk" },
  { reason: "out_of_memory", exhausted: "memory" },
  { reason: "out_of_processes", exhausted: "processes" },
  { reason: "store_full", errno: ["ENOSPC", "EDQUOT"] },
  { reason: "store_io", errno: ["EIO", "EROFS"] },
  {
    reason: "podman_unreachable",
    errno: ["ECONNREFUSED", "ENOENT", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH"],
  },
  { reason: "podman_timeout", errorClass: ["TimeoutError"] },
  // Podman answers 5xx for its own trouble; a 404 or 409 mid-build means
  // the container vanished or stopped under us.
  { reason: "podman_error", apiStatus: { min: 500, max: 599 } },
  { reason: "container_gone", apiStatus: { min: 404, max: 404 } },
  { reason: "container_gone", apiStatus: { min: 409, max: 409 } },
  // 137 = SIGKILL: the kernel's OOM killer or a container stopped under the command.
  { reason: "command_killed", exitCode: [137] },
  { reason: "internal", flag: "unexpected" },
  // Signing uses the server's key on the server's images: never the request's fault.
  { reason: "signing_failed", failedStep: ["signing"] },
  // Last resort, the ImageBuilder's own words about downloads.
  {
    reason: "download_failed",
    stderr: /wget: (server returned error|bad address|can't connect|download timed out)/i,
    steps: DOWNLOAD_STEPS,
  },
  {
    reason: "download_failed",
    stderr:
      /Connection (error|reset prematurely)|Failed to (establish connection|send request|download)/i,
    steps: DOWNLOAD_STEPS,
  },
  { reason: "feed_server_error", stderr: /HTTP(\/\d(\.\d)?| error) 5\d\d/i, steps: DOWNLOAD_STEPS },
  { reason: "feed_corrupt", stderr: /package index (is|are) corrupt/i, steps: DOWNLOAD_STEPS },
  {
    reason: "checksum_mismatch",
    stderr: /checksum mismatch|sha256sum: WARNING|computed checksums? did NOT match|: FAILED$/im,
    steps: DOWNLOAD_STEPS,
  },
];

function matches(rule: FailureRule, signals: FailureSignals): boolean {
  if ("flag" in rule) return signals[rule.flag] === true;
  if ("exhausted" in rule) return signals.exhausted === rule.exhausted;
  if ("errno" in rule) return signals.errno !== undefined && rule.errno.includes(signals.errno);
  if ("errorClass" in rule) {
    return signals.errorClass !== undefined && rule.errorClass.includes(signals.errorClass);
  }
  if ("apiStatus" in rule) {
    const status = signals.apiStatus;
    return status !== undefined && status >= rule.apiStatus.min && status <= rule.apiStatus.max;
  }
  if ("exitCode" in rule) {
    return signals.exitCode !== undefined && rule.exitCode.includes(signals.exitCode);
  }
  if ("failedStep" in rule) {
    return signals.step !== undefined && rule.failedStep.includes(signals.step);
  }
  if (rule.steps && (signals.step === undefined || !rule.steps.includes(signals.step))) {
    return false;
  }
  return rule.stderr.test(signals.stderr ?? "");
}

export interface FailureClass {
  kind: FailureKind;
  /** The rule that decided (`request` when none did). */
  reason: string;
}

export function classifyFailure(
  signals: FailureSignals,
  rules: readonly FailureRule[] = INFRASTRUCTURE_RULES,
): FailureClass {
  const rule = rules.find((candidate) => matches(candidate, signals));
  return rule
    ? { kind: "infrastructure", reason: rule.reason }
    : { kind: "request", reason: "request" };
}

/** BullMQ's failed reason of a job whose worker died: the worker was lost. */
export function isWorkerLostReason(reason: string | undefined): boolean {
  return /stalled/i.test(reason ?? "");
}
