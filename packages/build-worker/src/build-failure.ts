import type { ExhaustedResource, FailureSignals, ImagebuilderStep } from "@asu/contract";

/**
 * A build that failed for a reason the client should read: `detail` is the
 * contract's `Error: …` text, stdout/stderr those of the failing step,
 * `signals` what the failure classifier reads (the step and its exit code).
 */
export class BuildFailure extends Error {
  readonly detail: string;
  readonly stdout: string;
  readonly stderr: string;
  readonly signals: FailureSignals;

  constructor(detail: string, stdout = "", stderr = "", signals: FailureSignals = {}) {
    super(detail);
    this.name = "BuildFailure";
    this.detail = detail;
    this.stdout = stdout;
    this.stderr = stderr;
    this.signals = signals;
  }
}

/** The contract's failure texts, one place for every step. */
export const FAILURE_DETAILS = {
  imageNotFound: (image: string) =>
    `Error: Image not found: ${image}. If this version was just released, please try again in a few hours as it may take some time to become fully available.`,
  setup: (exitCode: number) => `Error: Could not set up ImageBuilder (returncode=${exitCode})`,
  info: (exitCode: number) =>
    `Error: Could not read the ImageBuilder's profiles (make info returncode=${exitCode})`,
  repositoryKey: "Error: A repository key is neither a usign public key nor a PEM key",
  storage: "Error: Selected packages exceed device storage",
  image: "Error: Error while building firmware. See stdout/stderr",
  noJson: "Error: No JSON file found",
  noProfile: "Error: Profile not found in JSON file",
  signing: "Error: Could not sign the images. See stdout/stderr",
  timeout: (seconds: number) => `Error: Build exceeded the time limit of ${seconds} seconds`,
  internal: "Error: Internal error while building the image. Please try again later.",
  outputTooLarge: (mb: number) =>
    `Error: The build's output is larger than this server's limit of ${mb} MB`,
  memory: (limit: string) =>
    `Error: The build was killed: it used more than this server's memory limit of ${limit}`,
  disk: (mb: number) => `Error: The build ran out of its ${mb} MB of disk space`,
  processes: (limit: number) =>
    `Error: The build tried to run more than this server's limit of ${limit} processes`,
  store: (problem: string) =>
    `Error: The server could not store the images: ${problem}. This is not a problem of your request; please try again later.`,
} as const;

/** The limits a failing command may have hit, as the client reads them. */
export interface SandboxLimits {
  memoryBytes: number;
  diskMb: number;
  pidsLimit: number;
}

function shownBytes(bytes: number): string {
  const gib = bytes / 1024 ** 3;
  return Number.isInteger(gib) ? `${gib} GB` : `${Math.round(bytes / 1024 ** 2)} MB`;
}

/**
 * How a command inside the sandbox tells it ran out of something, one row a
 * resource, read on every exit (a recipe that ignores a write error still
 * exits 0, leaving no profiles.json). The kernel's OOM killer ends a process
 * with SIGKILL (exit 137, make's "Error 137"/"Killed"; a timeout or shutdown
 * removes the whole container instead, and is told apart before); a full
 * tmpfs gives ENOSPC (or opkg's own space check); the pids cgroup makes fork
 * fail with EAGAIN. Not here: "is too big" / "out of space?", the image not
 * fitting the device's flash, which is the request's (imageBuildFailure).
 */
export const EXHAUSTION_SIGNS: readonly {
  resource: ExhaustedResource;
  matches: (exitCode: number, stderr: string) => boolean;
  detail: (limits: SandboxLimits) => string;
}[] = [
  {
    resource: "memory",
    matches: (code, stderr) =>
      code === 137 ||
      /\] (Error 137|Killed)$/m.test(stderr) ||
      /Cannot allocate memory|virtual memory exhausted|\bOut of memory\b|\bENOMEM\b/.test(stderr),
    detail: (l) => FAILURE_DETAILS.memory(shownBytes(l.memoryBytes)),
  },
  {
    resource: "disk",
    matches: (_, stderr) =>
      /No space left on device|Disk quota exceeded|\bENOSPC\b|\bEDQUOT\b|Only have \d+kb available on filesystem/.test(
        stderr,
      ),
    detail: (l) => FAILURE_DETAILS.disk(l.diskMb),
  },
  {
    resource: "processes",
    matches: (_, stderr) =>
      /(can't|cannot|unable to) fork|fork: (retry|Resource temporarily)|fork failed|pthread_create[^\n]*Resource temporarily unavailable|Too many open files/i.test(
        stderr,
      ),
    detail: (l) => FAILURE_DETAILS.processes(l.pidsLimit),
  },
];

/**
 * The failure of a command, successful or not, whose output shows the build
 * ran out of disk, memory or processes, else null. Ours, not the request's:
 * `exhausted` makes it an infrastructure failure.
 */
export function exhaustionFailure(
  run: { exitCode: number; stdout: string; stderr: string },
  limits: SandboxLimits,
  step?: ImagebuilderStep,
): BuildFailure | null {
  const sign = EXHAUSTION_SIGNS.find((candidate) => candidate.matches(run.exitCode, run.stderr));
  if (!sign) return null;
  return new BuildFailure(sign.detail(limits), run.stdout, run.stderr, {
    step,
    exitCode: run.exitCode,
    exhausted: sign.resource,
  });
}

/** What the ImageBuilder prints when the image does not fit the flash. */
const STORAGE_MARKERS = ["is too big", "out of space?"] as const;

/**
 * The detail of a finished `make image`, or null when it succeeded. Storage
 * trouble wins over the exit code: the ImageBuilder only warns about an
 * oversized image for some targets and still exits 0.
 */
export function imageBuildFailure(exitCode: number, stderr: string): string | null {
  if (STORAGE_MARKERS.some((marker) => stderr.includes(marker))) return FAILURE_DETAILS.storage;
  if (exitCode !== 0) return FAILURE_DETAILS.image;
  return null;
}
