import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "./run-command.ts";

/**
 * Test-only Podman settings. The test VM lacks CAP_SYS_RESOURCE (so the default
 * ulimits cannot be raised) and has hybrid cgroups (so systemd cannot manage them);
 * production workers talk to a properly configured Podman and never use this.
 */
export const TEST_CONTAINERS_CONF = `[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
`;

export const BUILD_NETWORK = "asu-build";

export interface PodmanService {
  /** Unix socket of the Docker-compatible API: `new Docker({ socketPath })`. */
  socketPath: string;
  /** The full environment (process env + CONTAINERS_CONF) for `podman` CLI calls. */
  env: Record<string, string>;
  stop(): Promise<void>;
  /**
   * Stops the API service and starts it again on the same socket after
   * `downMs`: an outage of the API. Containers keep running meanwhile (conmon).
   */
  restart(downMs?: number): Promise<void>;
}

export interface PodmanResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface PodmanCallOptions {
  /** Resolve instead of throwing when podman exits non-zero. */
  allowFailure?: boolean;
}

/** Runs the `podman` CLI with `env`; throws with its output when it fails. */
export async function runPodman(
  env: Record<string, string>,
  args: readonly string[],
  options: PodmanCallOptions = {},
): Promise<PodmanResult> {
  try {
    return await runCommand("podman", args, { env, allowFailure: options.allowFailure });
  } catch (error) {
    const message = (error as Error).message;
    // Not started at all: say which packages bring it.
    if (message.startsWith("cannot run podman")) {
      throw new Error(`${message} (apt-get install -y podman runc)`);
    }
    throw error;
  }
}

export async function podmanImageExists(
  env: Record<string, string>,
  ref: string,
): Promise<boolean> {
  const { code } = await runPodman(env, ["image", "exists", ref], { allowFailure: true });
  return code === 0;
}

/** Creates the network unless it exists; safe when several test files race for it. */
export async function ensurePodmanNetwork(
  env: Record<string, string>,
  name: string,
): Promise<void> {
  const exists = await runPodman(env, ["network", "exists", name], { allowFailure: true });
  if (exists.code === 0) return;
  const created = await runPodman(env, ["network", "create", name], { allowFailure: true });
  if (created.code !== 0 && !/already (exists|used)/i.test(created.stderr)) {
    throw new Error(`podman network create ${name} failed: ${created.stderr.trim()}`);
  }
}

function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: "/_ping", method: "GET", timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

async function waitForSocket(
  child: ChildProcess,
  socketPath: string,
  stderr: () => string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `podman system service exited (${child.exitCode ?? child.signalCode}) before answering: ${stderr().trim()}`,
      );
    }
    if (await ping(socketPath)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `podman system service did not answer GET /_ping on ${socketPath} within ${timeoutMs} ms; stderr: ${stderr().trim() || "(empty)"}`,
  );
}

/**
 * Starts a private `podman system service` for tests. Storage stays the default one
 * so images built by earlier runs are reused: building them is the slow part.
 */
export async function startPodmanService(
  options: { dir?: string; timeoutMs?: number } = {},
): Promise<PodmanService> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), "asu-podman-")));
  await mkdir(dir, { recursive: true });
  const confPath = join(dir, "containers.conf");
  await writeFile(confPath, TEST_CONTAINERS_CONF);
  const socketPath = join(dir, "podman.sock");
  await rm(socketPath, { force: true });

  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined) env[key] = value;
  }
  env.CONTAINERS_CONF = confPath;

  const launch = () => {
    const child = spawn("podman", ["system", "service", "--time=0", `unix://${socketPath}`], {
      env,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      // Only the tail matters for error messages; the service can log for hours.
      stderr = (stderr + chunk.toString("utf8")).slice(-8_000);
    });
    const spawnFailed = new Promise<never>((_, reject) =>
      child.once("error", (error) =>
        reject(new Error(`cannot start podman (apt-get install -y podman runc): ${error.message}`)),
      ),
    );
    // A spawn error after startup has nobody waiting; the race below reports it otherwise.
    spawnFailed.catch(() => {});
    const ready = Promise.race([
      waitForSocket(child, socketPath, () => stderr, options.timeoutMs ?? 30_000),
      spawnFailed,
    ]);
    return { child, ready };
  };
  let service = launch();

  const stopService = async (): Promise<void> => {
    const { child } = service;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited(child);
      clearTimeout(killer);
    }
  };
  const stop = async (): Promise<void> => {
    await stopService();
    if (ownDir) await rm(dir, { recursive: true, force: true });
  };
  const restart = async (downMs = 0): Promise<void> => {
    await stopService();
    await rm(socketPath, { force: true });
    if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
    service = launch();
    await service.ready;
  };

  try {
    await service.ready;
    await ensurePodmanNetwork(env, BUILD_NETWORK);
  } catch (error) {
    await stop();
    throw error;
  }
  return { socketPath, env, stop, restart };
}
