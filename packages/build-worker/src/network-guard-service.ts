import { networkInterfaces } from "node:os";
import type { Config } from "@asu/config";
import type { Logger } from "@asu/observability";
import Docker from "dockerode";
import {
  applyNftables,
  guardedNetwork,
  guardRuleset,
  guardTableName,
  hostPortsOf,
  runCommand,
} from "./build-network-guard.ts";
import { libpodNetwork } from "./container-network.ts";
import { containerSocketPath } from "./socket-path.ts";

/** The settings the guard service reads. */
export type GuardServiceConfig = Pick<
  Config,
  "container_network" | "container_socket_path" | "build_host_ports" | "upstream_url" | "cache_url"
>;

/** How often the service checks that its table is still there (a firewall reload, a new network). */
const RECHECK_MS = 30_000;

/** The host's own addresses as a build sees them (its gateways are added by the caller). */
function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .flatMap((entry) => (entry && !entry.internal ? [entry.address] : []));
}

/**
 * Installs the guard of CONTAINER_NETWORK on this host (root with
 * CAP_NET_ADMIN in the host's network namespace, nft on PATH): the network
 * read through the Podman API, the ports of BUILD_HOST_PORTS and of
 * UPSTREAM_URL/CACHE_URL when they name the host left open.
 */
export async function installNetworkGuard(
  docker: Docker,
  config: GuardServiceConfig,
): Promise<{ bridge: string; allowedPorts: number[] }> {
  const guarded = guardedNetwork([await libpodNetwork(docker, config.container_network)]);
  const allowedPorts = [
    ...new Set([
      ...config.build_host_ports,
      ...hostPortsOf(
        [config.upstream_url, config.cache_url],
        [...guarded.gateways, ...hostAddresses()],
      ),
    ]),
  ];
  await applyNftables(guardRuleset(guarded, { allowTcpPorts: allowedPorts }));
  return { bridge: guarded.interfaceName, allowedPorts };
}

/**
 * The compose files' build-guard service: installs the guard, then puts it
 * back whenever its table has gone (`nft flush ruleset`, a firewall
 * reload). Stopping leaves the guard in place: workers may still be
 * building. Resolves once the first install is done; rejects when it fails.
 */
export async function runNetworkGuard(options: {
  config: GuardServiceConfig;
  logger: Logger;
  /** Default: the Podman API at CONTAINER_SOCKET_PATH. */
  docker?: Docker;
}): Promise<{ stop(): void }> {
  const { config, logger } = options;
  const docker =
    options.docker ?? new Docker({ socketPath: containerSocketPath(config.container_socket_path) });
  const network = config.container_network;
  const install = async () => {
    const installed = await installNetworkGuard(docker, config);
    logger.info(
      { network, bridge: installed.bridge, allowed_host_ports: installed.allowedPorts },
      "guarded the build network against the host",
    );
  };
  await install();
  const timer = setInterval(() => {
    runCommand("nft", ["list", "table", "inet", guardTableName(network)]).catch(() =>
      install().catch((error: Error) =>
        logger.error({ network, err: error.message }, "cannot guard the build network"),
      ),
    );
  }, RECHECK_MS);
  return { stop: () => clearInterval(timer) };
}
