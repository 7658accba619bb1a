import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeExit, type SupervisedChild, spawnChild } from "./child-process.ts";
import { podmanRequest } from "./podman-api.ts";

export interface PrivatePodman {
  socketPath: string;
  readonly child: SupervisedChild;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;
/** sun_path holds 108 bytes; a deep working directory falls back to a temp dir. */
const MAX_SOCKET_PATH = 100;

async function socketDir(preferred: string): Promise<{ dir: string; temporary: boolean }> {
  if (join(preferred, "podman.sock").length <= MAX_SOCKET_PATH) {
    await mkdir(preferred, { recursive: true, mode: 0o700 });
    return { dir: preferred, temporary: false };
  }
  return { dir: await mkdtemp(join(tmpdir(), "asu-podman-")), temporary: true };
}

async function answersPing(socketPath: string): Promise<boolean> {
  try {
    const answer = await podmanRequest(socketPath, "GET", "/_ping", { timeoutMs: 2_000 });
    return answer.status === 200;
  } catch {
    return false;
  }
}

async function waitUntilReady(child: SupervisedChild, socketPath: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (!child.isRunning()) {
      throw new Error(
        `podman system service exited (${describeExit(await child.exited)}) before answering:\n${child.output().trim()}`,
      );
    }
    if (await answersPing(socketPath)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `podman system service did not answer on ${socketPath} within ${READY_TIMEOUT_MS / 1000} s:\n${child.output().trim()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * A `podman system service` owned by this process, its API on a private
 * socket. It inherits the environment, so CONTAINERS_CONF and the storage
 * settings of the operator apply.
 */
export async function startPrivatePodman(options: {
  program: string;
  /** Preferred folder of the socket, e.g. ./data/podman. */
  dir: string;
  env?: NodeJS.ProcessEnv;
}): Promise<PrivatePodman> {
  const { dir, temporary } = await socketDir(options.dir);
  const socketPath = join(dir, "podman.sock");
  // A socket file left by a killed run would make the service refuse to bind.
  await rm(socketPath, { force: true });
  const child = await spawnChild(
    options.program,
    ["system", "service", "--time=0", `unix://${socketPath}`],
    { env: options.env ?? process.env },
  );
  const cleanUp = async () => {
    await child.stop(STOP_GRACE_MS);
    await rm(temporary ? dir : socketPath, { recursive: true, force: true });
  };
  try {
    await waitUntilReady(child, socketPath);
  } catch (error) {
    await cleanUp();
    throw error;
  }
  return { socketPath, child, stop: cleanUp };
}
