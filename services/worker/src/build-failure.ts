import type { FailureSignals } from "@asu/core";

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
} as const;

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
