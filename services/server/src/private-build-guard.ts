import {
  applyNftables,
  guardedNetwork,
  guardRemoval,
  guardRuleset,
  hostAddresses,
  hostPortsOf,
} from "@asu/build-worker";
import type { Logger } from "@asu/observability";
import { podmanMessage, podmanRequest } from "./podman-api.ts";
import { findProgram } from "./program-check.ts";

export const UNGUARDED_WARNING =
  "the build network is not guarded: code running in a build can connect to every port this host listens on beyond loopback (this server's API with HOST=0.0.0.0, sshd, other services). Start the server as root with nft installed (apt-get install nftables) to guard it; the worker refuses to build on it unless ALLOW_UNGUARDED_BUILD_NETWORK=1 (docs/security.md: What a build can reach)";

export interface PrivateBuildGuardOptions {
  /** The private Podman's API socket. */
  socketPath: string;
  network: string;
  /** BUILD_HOST_PORTS. */
  allowTcpPorts: readonly number[];
  /** UPSTREAM_URL and CACHE_URL: their ports stay open when they name the host. */
  urls: readonly (string | undefined)[];
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Whether this process may change the host's firewall; default: running as root. */
  isRoot?: boolean;
}

async function inspectNetwork(socketPath: string, network: string) {
  const answer = await podmanRequest(
    socketPath,
    "GET",
    `/v4.0.0/libpod/networks/${encodeURIComponent(network)}/json`,
  );
  if (answer.status !== 200) {
    throw new Error(`cannot inspect Podman network ${network}: ${podmanMessage(answer)}`);
  }
  return guardedNetwork([JSON.parse(answer.body)]);
}

/**
 * Guards the all-in-one server's build network against the host (see
 * @asu/build-worker, build-network-guard.ts) when this process may: root, with `nft` on PATH.
 * Otherwise, or when installing fails, it warns once; the worker then
 * refuses to start unless ALLOW_UNGUARDED_BUILD_NETWORK=1. Returns what
 * removes the guard again.
 */
export async function guardPrivateBuildNetwork(
  options: PrivateBuildGuardOptions,
): Promise<(() => Promise<void>) | undefined> {
  const { network, logger } = options;
  const isRoot = options.isRoot ?? process.getuid?.() === 0;
  const nft = findProgram("nft", options.env.PATH);
  if (!isRoot || !nft) {
    const reason = !isRoot ? "not running as root" : "nft not found on PATH";
    logger.warn({ network, reason }, UNGUARDED_WARNING);
    return undefined;
  }
  try {
    const guarded = await inspectNetwork(options.socketPath, network);
    const allowTcpPorts = [
      ...options.allowTcpPorts,
      ...hostPortsOf(options.urls, [...guarded.gateways, ...hostAddresses()]),
    ];
    await applyNftables(guardRuleset(guarded, { allowTcpPorts }), nft);
    logger.info(
      { network, bridge: guarded.interfaceName, allowed_host_ports: [...new Set(allowTcpPorts)] },
      "guarded the build network against the host",
    );
  } catch (error) {
    logger.warn({ network, reason: (error as Error).message }, UNGUARDED_WARNING);
    return undefined;
  }
  return async () => {
    await applyNftables(guardRemoval(network), nft);
    logger.info({ network }, "removed the build network's guard");
  };
}
