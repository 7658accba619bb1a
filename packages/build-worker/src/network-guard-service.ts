import type { Config } from "@asu/config";
import type { Logger } from "@asu/observability";
import Docker from "dockerode";
import {
  applyNftables,
  guardedNetwork,
  guardRuleset,
  guardTableName,
  hostAddresses,
  hostPortsOf,
  runCommand,
} from "./build-network-guard.ts";
import { libpodNetwork } from "./container-network.ts";
import { containerSocketPath } from "./socket-path.ts";

/** The settings the guard service reads. */
export type GuardServiceConfig = Pick<
  Config,
  | "container_network"
  | "container_socket_path"
  | "build_host_ports"
  | "upstream_url"
  | "cache_url"
  | "guard_image"
>;

/** How often the service checks that its table is still there (a firewall reload, a new network). */
const RECHECK_MS = 30_000;

/**
 * Installs the guard of CONTAINER_NETWORK on this host (root with
 * CAP_NET_ADMIN in the host's network namespace, nft on PATH): the network
 * read through the Podman API, the ports of BUILD_HOST_PORTS and of
 * UPSTREAM_URL/CACHE_URL when they name the host left open.
 */
export async function installNetworkGuard(
  docker: Docker,
  config: GuardServiceConfig,
  nft: HostNft,
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
  await nft.apply(guardRuleset(guarded, { allowTcpPorts: allowedPorts }));
  return { bridge: guarded.interfaceName, allowedPorts };
}

/** nft on the Podman host: here, or through a container there (GUARD_IMAGE). */
export interface HostNft {
  apply(script: string): Promise<void>;
  /** Whether the table is there. */
  hasTable(table: string): Promise<boolean>;
}

export function hostNft(docker: Docker, image: string | undefined): HostNft {
  if (!image) {
    return {
      apply: (script) => applyNftables(script),
      hasTable: (table) =>
        runCommand("nft", ["list", "table", "inet", table]).then(
          () => true,
          () => false,
        ),
    };
  }
  return {
    async apply(script) {
      const { exitCode } = await runHostNft(docker, image, ["-f", "-"], script);
      if (exitCode !== 0) throw new Error(`nft -f - on the Podman host exited ${exitCode}`);
    },
    async hasTable(table) {
      return (await runHostNft(docker, image, ["list", "table", "inet", table])).exitCode === 0;
    },
  };
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
}): Promise<{ stop(): void; present(): Promise<boolean> }> {
  const { config, logger } = options;
  const docker =
    options.docker ?? new Docker({ socketPath: containerSocketPath(config.container_socket_path) });
  const network = config.container_network;
  const nft = hostNft(docker, config.guard_image);
  const install = async () => {
    const installed = await installNetworkGuard(docker, config, nft);
    logger.info(
      { network, bridge: installed.bridge, allowed_host_ports: installed.allowedPorts },
      "guarded the build network against the host",
    );
  };
  await install();
  const timer = setInterval(() => {
    void nft
      .hasTable(guardTableName(network))
      .then((present) => (present ? undefined : install()))
      .catch((error: Error) =>
        logger.error({ network, err: error.message }, "cannot guard the build network"),
      );
  }, RECHECK_MS);
  return {
    stop: () => clearInterval(timer),
    present: () => nft.hasTable(guardTableName(network)),
  };
}

/** The label of the short-lived containers that run nft on the Podman host. */
export const HOST_NFT_LABEL = "io.asu.build-guard.nft";
const HOST_NFT_TIMEOUT_MS = 30_000;

/**
 * Runs an nft command line on the Podman host through its API, for a
 * process in a container that cannot reach the host's firewall itself: a
 * short-lived container of `image` (one with nft: the worker image) in the
 * host's network namespace, root with CAP_NET_ADMIN, removed after.
 * `script`, when given, is nft's input (`nft -f -`). Its exit code; -1 when
 * it did not end within 30 s.
 */
export async function runHostNft(
  docker: Docker,
  image: string,
  args: readonly string[],
  script?: string,
): Promise<{ exitCode: number }> {
  const command = script === undefined ? 'nft "$@"' : 'printf %s "$NFT_SCRIPT" | nft "$@"';
  const container = await docker.createContainer({
    Image: image,
    Entrypoint: ["sh", "-c", command, "nft"],
    Cmd: [...args],
    User: "0:0",
    Env: script === undefined ? [] : [`NFT_SCRIPT=${script}`],
    Labels: { [HOST_NFT_LABEL]: "true" },
    // Not the worker image's check; and Podman removes it even if this process dies meanwhile.
    Healthcheck: { Test: ["NONE"] },
    HostConfig: {
      NetworkMode: "host",
      // Podman's default set plus NET_ADMIN: dropping ALL also drops what
      // runc needs to set the configured rlimits on some hosts.
      CapAdd: ["NET_ADMIN"],
      AutoRemove: true,
    },
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    // Asked before the start: once it has ended it is gone.
    const ended = container.wait({ condition: "next-exit" }) as Promise<{ StatusCode: number }>;
    await container.start();
    const waited = await Promise.race([
      ended,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), HOST_NFT_TIMEOUT_MS);
      }),
    ]);
    return { exitCode: waited?.StatusCode ?? -1 };
  } catch (error) {
    await container.remove({ force: true }).catch(() => {});
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Whether the guard of CONTAINER_NETWORK is on the Podman host now (the build-guard's healthcheck). */
export function guardPresent(config: GuardServiceConfig, docker?: Docker): Promise<boolean> {
  const api =
    docker ?? new Docker({ socketPath: containerSocketPath(config.container_socket_path) });
  return hostNft(api, config.guard_image).hasTable(guardTableName(config.container_network));
}
