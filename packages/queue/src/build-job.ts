import type { BuildRequest } from "@asu/core";

/** The BullMQ queue every tier shares; job id = request hash. */
export const BUILD_QUEUE = "builds";
/** Redis key prefix of everything ASU stores. */
export const KEY_PREFIX = "asu";

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
  skipPackageResolution: boolean;
  /** `{BASE_CONTAINER}:{target}-{tag}`. */
  image: string;
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
}

/** Stored as the job's progress; read by status polls while a build runs or after it failed. */
export interface BuildProgress {
  imagebuilder_status: BuildStage;
  detail?: string;
  stdout?: string;
  stderr?: string;
}

/** The 200 answer's result fields, as the worker stores them (the job's return value). */
export type BuildResult = Record<string, unknown> & {
  images?: unknown[];
  bin_dir: string;
  manifest: Record<string, string>;
};

/** Expiry times of finished builds: a sorted set scored by unix ms. */
export const EXPIRY_KEY = `${KEY_PREFIX}:expiry`;
/** The capped, anonymised error log (`YYYY-MM-DD HH:MM:SS version:target:profile message`), newest first. */
export const ERROR_LOG_KEY = `${KEY_PREFIX}:build-errors`;
/** Entries the error log keeps, as many as the Python server's. */
export const ERROR_LOG_LENGTH = 5000;
