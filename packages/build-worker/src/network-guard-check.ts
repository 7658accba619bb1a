import type Docker from "dockerode";
import { guardTableName, runCommand } from "./build-network-guard.ts";
import { runHostNft } from "./network-guard-service.ts";

/**
 * What is known about the guard of the build network (build-network-guard.ts):
 * `mode` when CONTAINER_NETWORK is a network mode rather than a network;
 * else whether its nftables table is on the Podman host, and who read it.
 */
export type GuardState =
  | { kind: "mode" }
  | { kind: "present"; via: string }
  | { kind: "absent"; via: string }
  | { kind: "unreadable"; reason: string };

export interface GuardVerdict {
  start: boolean;
  level: "info" | "warn" | "error";
  message: string;
}

/** A worker that refuses to build on an unguarded network; its message names the fix. */
export class UnguardedNetworkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnguardedNetworkError";
  }
}

/** The label of the compose files' build-guard service: its value is the network it guards. */
export const GUARD_CONTAINER_LABEL = "io.asu.build-guard";

/**
 * Whether a worker may build on `network`: only where builds cannot reach
 * the host's ports (the guard is there, or `none` gives them no network),
 * or where the operator said ALLOW_UNGUARDED_BUILD_NETWORK=1. The message
 * names the fix.
 */
export function networkGuardVerdict(
  network: string,
  state: GuardState,
  allowUnguarded: boolean,
): GuardVerdict {
  if (state.kind === "present") {
    return { start: true, level: "info", message: `the build network is guarded (${state.via})` };
  }
  if (state.kind === "mode" && network === "none") {
    return { start: true, level: "info", message: "builds run without a network (none)" };
  }
  const why =
    state.kind === "mode"
      ? `the network mode ${network} has no guard`
      : state.kind === "absent"
        ? `no guard table ${guardTableName(network)} (${state.via})`
        : `its guard cannot be read: ${state.reason}`;
  const risk = `code running in a build can connect to every port this host listens on (build API, prepare tier, worker metrics, sshd)`;
  if (allowUnguarded) {
    return {
      start: true,
      level: "warn",
      message: `the build network "${network}" is not guarded (${why}): ${risk}; started anyway as ALLOW_UNGUARDED_BUILD_NETWORK=1 says`,
    };
  }
  const fix =
    state.kind === "mode"
      ? `use an isolated network (podman network create --opt isolate=true asu-build, CONTAINER_NETWORK=asu-build) and guard it`
      : `as root on the Podman host run \`pnpm guard:build-network -- --network ${network}\` (the compose files run it as their build-guard service)`;
  return {
    start: false,
    level: "error",
    message: `not starting: the build network "${network}" is not guarded (${why}): ${risk}. Fix: ${fix}, or set CONTAINER_NETWORK=none; ALLOW_UNGUARDED_BUILD_NETWORK=1 starts anyway`,
  };
}

/** A container API that does not answer must not keep a worker from starting (or refusing). */
const GUARD_READ_TIMEOUT_MS = 10_000;

/** How long a worker waits for a build-guard container that has not installed its table yet. */
const GUARD_START_WAIT_MS = 20_000;

async function withTimeout<T>(promise: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    promise.catch(() => undefined),
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), GUARD_READ_TIMEOUT_MS);
    }),
  ]);
  clearTimeout(timer);
  return result;
}

const NETWORK_MODES = new Set(["none", "host", "bridge", "private", "slirp4netns", "pasta"]);

/** Reads the guard's table with nft in this process's network namespace. */
export async function readLocalGuard(network: string): Promise<GuardState> {
  return readLocally(guardTableName(network));
}

async function readLocally(table: string): Promise<GuardState> {
  try {
    await runCommand("nft", ["list", "table", "inet", table]);
    return { kind: "present", via: "nft on this host" };
  } catch (error) {
    const message = (error as Error).message;
    if (/No such file or directory/.test(message) && !/ENOENT/.test(message)) {
      return { kind: "absent", via: "nft on this host" };
    }
    return { kind: "unreadable", reason: `nft on this host: ${message.split("\n")[0]}` };
  }
}

/**
 * Reads the table on the Podman host when a build-guard container of
 * `network` runs there (the compose files'): nft in a short-lived container
 * of its image in the host's network namespace.
 */
async function readInGuardContainer(
  docker: Docker,
  network: string,
  table: string,
): Promise<GuardState | undefined> {
  const [guard] = await docker.listContainers({
    filters: { label: [`${GUARD_CONTAINER_LABEL}=${network}`], status: ["running"] },
  });
  if (!guard) return undefined;
  // nft on the host, from the guard's own image (the worker image, which has nft).
  const { exitCode } = await runHostNft(docker, guard.Image, ["list", "table", "inet", table]);
  const via = `the build-guard container ${guard.Names[0]?.replace(/^\//, "") ?? guard.Id}`;
  return { kind: exitCode === 0 ? "present" : "absent", via };
}

/**
 * Reads the guard of `network` on the Podman host: with nft here (a worker
 * started on the host as root), else, from inside a container that cannot
 * see the host's firewall, through the build-guard container the compose
 * files run next to the workers.
 */
export async function readNetworkGuard(docker: Docker, network: string): Promise<GuardState> {
  if (NETWORK_MODES.has(network.split(":")[0] ?? network)) return { kind: "mode" };
  const table = guardTableName(network);
  const local = await readLocally(table);
  if (local.kind === "present") return local;
  // The build-guard service may be starting beside this worker: give it a moment.
  const deadline = Date.now() + GUARD_START_WAIT_MS;
  for (;;) {
    const viaContainer = await withTimeout(readInGuardContainer(docker, network, table));
    if (viaContainer?.kind !== "absent" || Date.now() > deadline) return viaContainer ?? local;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
