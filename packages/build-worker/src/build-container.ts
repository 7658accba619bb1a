import { randomBytes } from "node:crypto";
import type { Config } from "@asu/config";
import type Docker from "dockerode";

/** Label naming the build a container belongs to; its value is the request hash. */
export const BUILD_LABEL = "asu.build";
/** Label naming the worker that created a container. */
export const WORKER_LABEL = "asu.worker";
/** Label naming the queue (one Redis) whose job the container runs; see queueInstanceId. */
export const QUEUE_LABEL = "asu.queue";

export const BUILD_DIR = "/builder";

/**
 * The BUILD_LABEL of a warm container (container-pool.ts): made before its
 * build is known, so it names no request; never a request hash (64 hex digits).
 */
export const WARM_BUILD = "warm";
/** The name a build gives the warm container it takes: its label cannot change, its name can. */
export function buildContainerName(requestHash: string): string {
  return `asu-build-${requestHash}-${randomBytes(3).toString("hex")}`;
}

const BUILD_NAME = /^\/?asu-build-(.+)-[0-9a-f]{6}$/;

/**
 * The request hash of a container's build: its label, or for a warm
 * container the name its build gave it; undefined for an idle warm one.
 */
export function buildOf(info: Pick<Docker.ContainerInfo, "Labels" | "Names">): string | undefined {
  const label = info.Labels?.[BUILD_LABEL];
  if (label !== WARM_BUILD) return label;
  for (const name of info.Names ?? []) {
    const match = BUILD_NAME.exec(name);
    if (match) return match[1];
  }
  return undefined;
}

/** How long a warm container waits for a build of its image before it is removed. */
export const WARM_IDLE_SECONDS = 300;

/** What one build container may use of the host. */
export interface BuildSandbox {
  memoryBytes: number;
  cpus: number;
  /** Size of /builder; /tmp and /var/tmp get a quarter of it each. */
  diskMb: number;
  /** Largest output copied into the store. */
  outputMaxMb: number;
  pidsLimit: number;
  /** `podman run --userns`; undefined: Podman's default. */
  userns?: string;
}

/** The settings a build's sandbox is made of. */
export type SandboxConfig = Pick<
  Config,
  | "build_memory"
  | "build_cpus"
  | "build_disk_mb"
  | "build_output_max_mb"
  | "build_pids_limit"
  | "build_userns"
>;

export function sandboxFromConfig(config: SandboxConfig): BuildSandbox {
  return {
    memoryBytes: config.build_memory,
    cpus: config.build_cpus,
    diskMb: config.build_disk_mb,
    outputMaxMb: config.build_output_max_mb,
    pidsLimit: config.build_pids_limit,
    userns: config.build_userns,
  };
}

/** /run holds nothing of a build's; it only must not be unbounded. */
const RUN_MB = 16;

export interface BuildContainerSpec {
  image: string;
  requestHash: string;
  workerId: string;
  /** Names the Redis whose job this is, so any worker of that queue can tell the container is orphaned. */
  queueId?: string;
  /** The container's own lifetime (`sleep n`): it dies even if the worker does. */
  jobTimeoutSeconds: number;
  network: string;
  sandbox: BuildSandbox;
}

/**
 * The build container, hardened and bounded (docs/security.md). `U` makes
 * /builder the image user's as Podman copies it in, which spares an exec per
 * build; `sleep` as its only process ends it after the job timeout regardless.
 */
export function buildContainerOptions(
  spec: BuildContainerSpec,
  lifetimeSeconds = spec.jobTimeoutSeconds,
): Docker.ContainerCreateOptions {
  const { sandbox } = spec;
  const tmpMb = Math.max(16, Math.floor(sandbox.diskMb / 4));
  return {
    Image: spec.image,
    Cmd: ["sleep", String(lifetimeSeconds)],
    WorkingDir: BUILD_DIR,
    Labels: {
      [BUILD_LABEL]: spec.requestHash,
      [WORKER_LABEL]: spec.workerId,
      ...(spec.queueId && { [QUEUE_LABEL]: spec.queueId }),
    },
    HostConfig: {
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges"],
      Privileged: false,
      ReadonlyRootfs: true,
      // Sticky and world-writable, as /tmp: buildbot writes there whatever its uid.
      Tmpfs: {
        [BUILD_DIR]: `size=${sandbox.diskMb}m,U`,
        "/tmp": `size=${tmpMb}m,mode=1777`,
        "/var/tmp": `size=${tmpMb}m,mode=1777`,
        "/run": `size=${RUN_MB}m,mode=755`,
      },
      Memory: sandbox.memoryBytes,
      MemorySwap: sandbox.memoryBytes,
      NanoCpus: Math.round(sandbox.cpus * 1e9),
      PidsLimit: sandbox.pidsLimit,
      ...(sandbox.userns && { UsernsMode: sandbox.userns }),
      NetworkMode: spec.network,
    },
  };
}

/**
 * A warm container: the same sandbox, labelled WARM_BUILD, living its idle
 * time on top of a whole build's, so the build it is handed to keeps the
 * full job timeout.
 */
export function warmContainerOptions(
  spec: Omit<BuildContainerSpec, "requestHash">,
): Docker.ContainerCreateOptions {
  return buildContainerOptions(
    { ...spec, requestHash: WARM_BUILD },
    spec.jobTimeoutSeconds + WARM_IDLE_SECONDS,
  );
}
