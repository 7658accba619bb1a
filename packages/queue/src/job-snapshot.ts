import type { FailureKind } from "@asu/contract";
import type { BuildJobData, BuildProgress, BuildResult } from "./job-data.ts";

export type JobState =
  | "waiting"
  | "waiting-children"
  | "prioritized"
  | "delayed"
  | "active"
  | "completed"
  | "failed"
  | "unknown";

/** Everything a status answer needs about one job, read from Redis in one go. */
export interface JobSnapshot {
  requestHash: string;
  state: JobState;
  data: BuildJobData;
  /** BullMQ's job.progress: our BuildProgress once a worker reported. */
  progress: unknown;
  returnvalue?: BuildResult | null;
  failedReason?: string;
  /** When the job was enqueued, unix ms. */
  timestamp: number;
  /** When a worker took the job, unix ms; only once one did. */
  processedOn?: number;
  /** 0 = next; only for queued jobs. */
  position?: number;
  /** Waits in the prebuild lane: a user's POST promotes it (enqueueWithin). */
  prebuildLane?: true;
  /** When a finished build stops being served, unix ms. */
  expiresAt?: number;
}

/** The job's progress as the worker reported it; empty before it did. */
export function jobProgress(snapshot: Pick<JobSnapshot, "progress">): Partial<BuildProgress> {
  const { progress } = snapshot;
  return progress && typeof progress === "object" ? (progress as Partial<BuildProgress>) : {};
}

/**
 * Whose fault a failed job is. A failure the worker did not classify (its
 * worker died, BullMQ gave up on it) is never the user's verdict.
 */
export function failureKindOf(snapshot: Pick<JobSnapshot, "progress">): FailureKind {
  const reported = jobProgress(snapshot).failure_kind;
  return reported === "request" ? "request" : "infrastructure";
}

/** A failure a new POST must not be served: it is built afresh instead. */
export function isReplaceableFailure(snapshot: Pick<JobSnapshot, "state" | "progress">): boolean {
  return snapshot.state === "failed" && failureKindOf(snapshot) === "infrastructure";
}
