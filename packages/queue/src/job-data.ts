import type { BuildRequest, FailureKind } from "@asu/contract";
import { keysInOrder, withKeyOrder } from "@asu/python-compat";

/** The BullMQ queue every tier shares; job id = request hash. */
export const BUILD_QUEUE = "builds";
/** Redis key prefix of everything ASU stores. */
export const KEY_PREFIX = "asu";

/**
 * The lanes of the queue, as BullMQ priorities (lower runs first). Users'
 * builds stay below USER_PRIORITY_LIMIT; release-day prebuilds take BullMQ's
 * lowest priority, so a worker takes one only when no user's build waits,
 * and admission limits never count them.
 */
// BullMQ accepts priorities 0 to 2²¹ − 1 and refuses 2²¹ itself.
export const PREBUILD_PRIORITY = 2_097_151;
export const USER_PRIORITY_LIMIT = 2_000_000;
/** The `client` a prebuild is enqueued under. */
export const PREBUILD_CLIENT = "asu/prebuild";

/**
 * How workers hold their jobs: a SIGKILLed worker's job is taken over within
 * lockDuration + 2 × stalledInterval (25 s); a second stall of one job fails
 * it rather than looping.
 */
export const WORKER_LOCK_SETTINGS = {
  lockDuration: 15_000,
  stalledInterval: 5_000,
  maxStalledCount: 1,
} as const;

/** The contract's stages, in order. */
export const BUILD_STAGES = [
  "init",
  "container_setup",
  "validate_revision",
  "validate_manifest",
  "building_image",
  "done",
  "failed",
] as const;
export type BuildStage = (typeof BUILD_STAGES)[number];

/**
 * What the build tier hands a worker. Everything needing upstream metadata
 * is decided at enqueue time, so workers need only Redis, Podman and the store.
 */
export interface BuildJobData {
  /** The BuildRequest as it will be built: profile is the matched ImageBuilder profile. */
  request: BuildRequest;
  requestHash: string;
  /**
   * The packages to build: the request's with the server-side package rules
   * applied (as sent with skip_package_resolution), resolved once by the
   * build tier; the worker only turns them into the list against the
   * profile's defaults (diff_packages).
   */
  packages: string[];
  /** `{BASE_CONTAINER}:{target}-{tag}`. */
  image: string;
  /**
   * Snapshot images a release builds from (through setup.sh) when `image`
   * does not exist, best first; absent for snapshots.
   */
  fallbackImages?: string[];
  /** The target's upstream version_code when enqueued: a snapshot image older than it is re-checked. */
  upstreamVersionCode?: string;
  /** Upstream path of the version (`snapshots`, `releases/24.10.0`), setup.sh's VERSION_PATH. */
  versionPath: string;
  /** The ImageBuilder must run setup.sh first. */
  snapshot: boolean;
  /** Seconds a result lives, chosen by the contract's TTL rules. */
  resultTtl: number;
  /** Seconds a failure lives. */
  failureTtl: number;
  /** The HTTP request that enqueued the build, so logs follow it into the worker. */
  requestId?: string;
  /**
   * The client's order of `request.repositories`: JSON in Redis loses it for
   * integer-like names, and the repository file and the echoed request follow it.
   */
  repositoryOrder?: string[];
  /**
   * A requester of this build is a LuCI whose progress table knows only the
   * five old stages: every 202 of the hash shows those (set at enqueue, or
   * when such a LuCI asks for a job already there).
   */
  oldLuci?: boolean;
  /** A release-day prebuild (client PREBUILD_CLIENT), counted apart. */
  prebuild?: boolean;
}

/** Job data as stored: the repository order taken along. */
export function storedJobData(data: BuildJobData): BuildJobData {
  return { ...data, repositoryOrder: keysInOrder(data.request.repositories) };
}

/** The request of stored job data with its repositories in the client's order. */
export function jobRequest(data: BuildJobData): BuildRequest {
  return {
    ...data.request,
    repositories: withKeyOrder(data.request.repositories ?? {}, data.repositoryOrder),
  };
}

/** Stored as the job's progress; read by status polls while a build runs or after it failed. */
export interface BuildProgress {
  imagebuilder_status: BuildStage;
  detail?: string;
  stdout?: string;
  stderr?: string;
  /** Whose fault a failure is; see classifyFailure. */
  failure_kind?: FailureKind;
  /** The classifier rule that decided, for logs and metrics. */
  failure_reason?: string;
}

/** The 200 answer's result fields, as the worker stores them (the job's return value). */
export type BuildResult = Record<string, unknown> & {
  images?: unknown[];
  bin_dir: string;
  manifest: Record<string, string>;
};

/** Expiry times of finished builds: a sorted set scored by unix ms. */
export const EXPIRY_KEY = `${KEY_PREFIX}:expiry`;
