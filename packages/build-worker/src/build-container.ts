import type { Config } from "@asu/config";
import type Docker from "dockerode";

/** Label naming the build a container belongs to; its value is the request hash. */
export const BUILD_LABEL = "asu.build";
/** Label naming the worker that created a container. */
export const WORKER_LABEL = "asu.worker";
/** Label naming the queue (one Redis) whose job the container runs; see queueInstanceId. */
export const QUEUE_LABEL = "asu.queue";

export const BUILD_DIR = "/builder";

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
 * The build container, hardened and bounded: every capability dropped, no
 * new privileges, a read-only root, and every writable place a size-capped
 * tmpfs. /builder is one of them, filled from the image (Podman's tmpcopyup),
 * so the ImageBuilder works in a copy of itself; `U` makes it the image
 * user's (buildbot, whatever its uid) as the copy is made: otherwise the
 * mount point is root's, and opening it would cost an exec per build. Memory (tmpfs content
 * included: it is charged to the container), swap, CPUs and processes are
 * capped by the kernel. `sleep` is its only process, so it ends by itself
 * after the job timeout even when nobody removes it.
 */
export function buildContainerOptions(spec: BuildContainerSpec): Docker.ContainerCreateOptions {
  const { sandbox } = spec;
  const tmpMb = Math.max(16, Math.floor(sandbox.diskMb / 4));
  return {
    Image: spec.image,
    Cmd: ["sleep", String(spec.jobTimeoutSeconds)],
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
