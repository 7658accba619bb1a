import Docker from "dockerode";
import { ATH79_24_10_DOUBLE } from "./asu-stack.ts";
import { buildImagebuilderDouble } from "./imagebuilder-double.ts";
import {
  BUILD_NETWORK,
  ensurePodmanNetwork,
  type PodmanService,
  startPodmanService,
} from "./podman-service.ts";

/** An apk snapshot double beside the opkg release one: the two package managers' paths. */
export const X86_SNAPSHOT_DOUBLE = {
  tag: "master",
  flavour: "apk",
  version: "SNAPSHOT",
  revision: "r29000-aaaaaaaaaa",
  target: "x86/64",
} as const;

export interface PodmanWithDoubles {
  podman: PodmanService;
  docker: Docker;
  /** Image of the 24.10.0 ath79/generic release double. */
  release: string;
  /** Image of the x86/64 snapshot double. */
  snapshot: string;
}

/**
 * A Podman service with the build network and both doubles under `baseContainer`,
 * for tests that drive ImageBuilder sessions without a stack.
 */
export async function startPodmanWithDoubles(baseContainer: string): Promise<PodmanWithDoubles> {
  const podman = await startPodmanService();
  await ensurePodmanNetwork(podman.env, BUILD_NETWORK);
  const docker = new Docker({ socketPath: podman.socketPath });
  const release = await buildImagebuilderDouble(podman, { baseContainer, ...ATH79_24_10_DOUBLE });
  const snapshot = await buildImagebuilderDouble(podman, { baseContainer, ...X86_SNAPSHOT_DOUBLE });
  return { podman, docker, release, snapshot };
}
