import { spawn } from "node:child_process";
import { networkInterfaces } from "node:os";

/*
 * The host's side of the build network: netavark lets isolated containers
 * reach every port the host listens on and has no option against it, so the
 * guard is an nftables table of its own next to netavark's rules.
 */

/** What the guard needs to know of a Podman network (`podman network inspect`). */
export interface GuardedNetwork {
  name: string;
  /** The bridge on the host, e.g. `podman1`. */
  interfaceName: string;
  /** The bridge's addresses, where aardvark-dns answers the containers' lookups. */
  gateways: string[];
  dnsEnabled: boolean;
}

export interface GuardOptions {
  /**
   * Host ports (TCP) builds must still reach at the gateway, such as a
   * package cache or download mirror that runs on the host itself.
   */
  allowTcpPorts?: number[];
}

/** nftables names: letters, digits and underscore are safe everywhere. */
export function guardTableName(network: string): string {
  return `asu_build_guard_${network.replace(/[^A-Za-z0-9_]/g, "_")}`;
}

const addressFamily = (address: string) => (address.includes(":") ? "ip6" : "ip");

/**
 * The nftables script guarding `network`, replacing an earlier guard of it:
 * from the bridge the host takes only DNS and the allowed ports and refuses
 * the rest at once (port forwards too); traffic to the internet is untouched.
 */
export function guardRuleset(network: GuardedNetwork, options: GuardOptions = {}): string {
  const table = guardTableName(network.name);
  const bridge = JSON.stringify(network.interfaceName);
  const accepted: string[] = [];
  if (network.dnsEnabled) {
    for (const gateway of network.gateways) {
      const family = addressFamily(gateway);
      accepted.push(
        `iifname ${bridge} ${family} daddr ${gateway} meta l4proto { tcp, udp } th dport 53 accept`,
      );
    }
  }
  for (const port of new Set(options.allowTcpPorts ?? [])) {
    if (!Number.isInteger(port) || port < 1 || port > 65_535) {
      throw new Error(`not a TCP port: ${port}`);
    }
    // At every address of the host, not only the gateway: a build may name
    // the host by its LAN address (UPSTREAM_URL=http://192.0.2.7:8080).
    accepted.push(`iifname ${bridge} tcp dport ${port} accept`);
  }
  return [
    // Creating before deleting makes the delete succeed on a first run.
    `table inet ${table} {}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    "  chain input {",
    "    type filter hook input priority filter; policy accept;",
    `    iifname ${bridge} ct state established,related accept`,
    // IPv6 finds its neighbours and router through the host: without these
    // a build on an IPv6 network loses its route out.
    `    iifname ${bridge} icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept`,
    ...accepted.map((rule) => `    ${rule}`),
    `    iifname ${bridge} meta l4proto tcp counter reject with tcp reset`,
    `    iifname ${bridge} counter reject`,
    "  }",
    "  chain forward {",
    "    type filter hook forward priority filter; policy accept;",
    `    iifname ${bridge} ct status dnat counter reject`,
    "  }",
    "}",
    "",
  ].join("\n");
}

/** The guard of `network` removed; a no-op script when there is none. */
export function guardRemoval(network: string): string {
  const table = guardTableName(network);
  return `table inet ${table} {}\ndelete table inet ${table}\n`;
}

/** How a build container names the Podman host (Podman's and Docker's names). */
const HOST_NAMES = new Set(["host.containers.internal", "host.docker.internal"]);

/** The host's own addresses as a build sees them (its gateways are added by the caller). */
export function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .flatMap((entry) => (entry && !entry.internal ? [entry.address] : []));
}

/**
 * The TCP ports of `urls` that point at the Podman host, by its name for
 * containers or one of `hostAddresses` (its gateways, its other
 * addresses): the guard must leave them open or builds lose their
 * downloads. Loopback addresses are not among them: a build cannot reach
 * the host's loopback anyway.
 */
export function hostPortsOf(
  urls: readonly (string | undefined)[],
  hostAddresses: readonly string[],
): number[] {
  const addresses = new Set(hostAddresses.map((address) => address.toLowerCase()));
  const ports = new Set<number>();
  for (const text of urls) {
    if (!text) continue;
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      continue;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") continue;
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
    if (!HOST_NAMES.has(host) && !addresses.has(host)) continue;
    ports.add(url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80);
  }
  return [...ports];
}

/** Reads what the guard needs from `podman network inspect` output. */
export function guardedNetwork(inspected: unknown): GuardedNetwork {
  const [network] = inspected as {
    name?: string;
    driver?: string;
    network_interface?: string;
    subnets?: { gateway?: string }[];
    dns_enabled?: boolean;
  }[];
  if (!network?.name || network.driver !== "bridge" || !network.network_interface) {
    throw new Error("the build network must be a Podman bridge network");
  }
  return {
    name: network.name,
    interfaceName: network.network_interface,
    gateways: (network.subnets ?? []).flatMap((subnet) => (subnet.gateway ? [subnet.gateway] : [])),
    dnsEnabled: network.dns_enabled === true,
  };
}

/** Runs a program; its stdout, or an error naming its exit code and stderr. */
export function runCommand(
  command: string,
  args: string[],
  options: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"], env: options.env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolve(stdout)
        : reject(new Error(`${command} ${args.join(" ")} exited ${code}: ${stderr.trim()}`)),
    );
    // A program that exits without reading its input (nft refusing at once) closes the pipe.
    child.stdin.on("error", () => {});
    child.stdin.end(options.input ?? "");
  });
}

/**
 * Installs the guard of `network` on this host (root; `nft` and `podman`
 * on PATH, `env` for podman, e.g. CONTAINER_HOST). Returns the script applied.
 */
export async function guardBuildNetwork(
  network: string,
  options: GuardOptions & { env?: NodeJS.ProcessEnv; print?: boolean } = {},
): Promise<string> {
  const inspected = JSON.parse(
    await runCommand("podman", ["network", "inspect", network], { env: options.env }),
  );
  const script = guardRuleset(guardedNetwork(inspected), options);
  if (!options.print) await applyNftables(script);
  return script;
}

/** Runs an nftables script (root, `nft` on PATH). */
export async function applyNftables(script: string, nft = "nft"): Promise<void> {
  await runCommand(nft, ["-f", "-"], { input: script });
}

/** Removes the guard of `network` from this host. */
export async function unguardBuildNetwork(network: string): Promise<void> {
  await applyNftables(guardRemoval(network));
}
