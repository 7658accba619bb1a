import type Docker from "dockerode";

/** Network modes Podman understands without a network of that name. */
const NETWORK_MODES = ["none", "host", "bridge", "private", "slirp4netns", "pasta"] as const;

export interface NetworkCheck {
  /** False for a bridge network created without `--opt isolate=true`: builds could reach other containers. */
  isolated: boolean;
}

/**
 * Fails at start when CONTAINER_NETWORK names no network: otherwise every
 * build would fail at container creation with a message no client can act on.
 * Tells whether the network is isolated, so the worker can warn when not.
 */
export async function checkContainerNetwork(
  docker: Docker,
  network: string,
): Promise<NetworkCheck> {
  const mode = network.split(":")[0] ?? network;
  if ((NETWORK_MODES as readonly string[]).includes(mode)) return { isolated: mode === "none" };
  try {
    const info = (await docker.getNetwork(network).inspect()) as {
      Options?: Record<string, string>;
    };
    return { isolated: info.Options?.isolate === "true" };
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    throw new Error(
      `Container network "${network}" does not exist: create it (podman network create --opt isolate=true ${network}) or set CONTAINER_NETWORK`,
    );
  }
}
