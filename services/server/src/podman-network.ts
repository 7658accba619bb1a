import { podmanMessage, podmanRequest } from "./podman-api.ts";

/** CONTAINER_NETWORK values that are network modes, not networks (as the worker reads them). */
const NETWORK_MODES = new Set(["none", "host", "bridge", "private", "slirp4netns", "pasta"]);

/** Whether CONTAINER_NETWORK names a network mode (`none`, `host`, …) rather than a network. */
export function isNetworkMode(network: string): boolean {
  return NETWORK_MODES.has(network.split(":")[0] ?? network);
}

/**
 * Creates the build containers' network unless it exists or is a network
 * mode, isolated (`--opt isolate=true`) from the stack's own networks.
 * @returns whether it was created now
 */
export async function ensurePodmanNetwork(socketPath: string, network: string): Promise<boolean> {
  if (isNetworkMode(network)) return false;
  const name = encodeURIComponent(network);
  const exists = await podmanRequest(socketPath, "GET", `/v4.0.0/libpod/networks/${name}/exists`);
  if (exists.status === 204) return false;
  if (exists.status !== 404) {
    throw new Error(`cannot inspect Podman network ${network}: ${podmanMessage(exists)}`);
  }
  const created = await podmanRequest(socketPath, "POST", "/v4.0.0/libpod/networks/create", {
    body: { name: network, options: { isolate: "true" } },
  });
  // 409: another process created it in between, which is just as good.
  if (created.status === 200 || created.status === 409) return created.status === 200;
  throw new Error(`cannot create Podman network ${network}: ${podmanMessage(created)}`);
}
