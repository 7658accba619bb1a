import type Docker from "dockerode";
import { isNotFound } from "./podman-errors.ts";

/** Network modes Podman understands without a network of that name. */
const NETWORK_MODES = ["none", "host", "bridge", "private", "slirp4netns", "pasta"] as const;

/** Podman's own view of a network (`podman network inspect`): its Docker-compatible one leaves the options out. */
export function libpodNetwork(
  docker: Docker,
  network: string,
): Promise<{ options?: Record<string, string> } & Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    docker.modem.dial(
      {
        path: `/v4.0.0/libpod/networks/${encodeURIComponent(network)}/json`,
        method: "GET",
        statusCodes: { 200: true, 404: "no such network", 500: "server error" },
      },
      (error: unknown, data: unknown) =>
        error ? reject(error) : resolve((data ?? {}) as { options?: Record<string, string> }),
    );
  });
}

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
    return { isolated: (await libpodNetwork(docker, network)).options?.isolate === "true" };
  } catch (error) {
    if (!isNotFound(error)) throw error;
    throw new Error(
      `Container network "${network}" does not exist: create it (podman network create --opt isolate=true ${network}) or set CONTAINER_NETWORK`,
    );
  }
}
