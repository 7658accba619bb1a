import type Docker from "dockerode";

/** Network modes Podman understands without a network of that name. */
const NETWORK_MODES = ["none", "host", "bridge", "private", "slirp4netns", "pasta"] as const;

/**
 * Fails at start when CONTAINER_NETWORK names no network: otherwise every
 * build would fail at container creation with a message no client can act on.
 */
export async function checkContainerNetwork(docker: Docker, network: string): Promise<void> {
  const mode = network.split(":")[0] ?? network;
  if ((NETWORK_MODES as readonly string[]).includes(mode)) return;
  try {
    await docker.getNetwork(network).inspect();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    throw new Error(
      `Container network "${network}" does not exist: create it (podman network create ${network}) or set CONTAINER_NETWORK`,
    );
  }
}
