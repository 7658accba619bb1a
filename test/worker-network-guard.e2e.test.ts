import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildContainerOptions } from "../packages/build-worker/src/build-container.ts";
import {
  guardBuildNetwork,
  unguardBuildNetwork,
} from "../packages/build-worker/src/build-network-guard.ts";
import { ATH79_24_10_DOUBLE } from "./support/asu-stack.ts";
import { type FakeUpstream, startFakeUpstream } from "./support/fake-upstream.ts";
import { buildImagebuilderDouble } from "./support/imagebuilder-double.ts";
import { execText } from "./support/network-probe.ts";
import { type PodmanService, runPodman, startPodmanService } from "./support/podman-service.ts";
import { type RedisServer, startRedisServer } from "./support/redis-server.ts";

/*
 * Item: workers never build on a network that reaches the host's services.
 * The tiers run as their own processes on every address of the host
 * (HOST=0.0.0.0), as in the attack that found it. A worker refuses to start
 * on the unguarded build network unless ALLOW_UNGUARDED_BUILD_NETWORK=1;
 * once `pnpm guard:build-network`'s guard is installed, a build's own code
 * tries every TCP port the host listens on, at the gateway and at every
 * address of the host, and none answers.
 */

const BASE = "localhost/asu-e2e-guard/imagebuilder";
const run = randomBytes(3).toString("hex");
const NETWORK = `asu-test-guard-${run}`;
const ROOT = new URL("../", import.meta.url);
const main = (service: string) => fileURLToPath(new URL(`services/${service}/src/main.ts`, ROOT));

let podman: PodmanService;
let docker: Docker;
let image: string;
let redis: RedisServer;
let upstream: FakeUpstream;
let publicPath: string;
const children: ChildProcess[] = [];
const containers: Docker.Container[] = [];

interface Tier {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startProcess(service: string, env: Record<string, string>): Tier {
  const child = spawn(process.execPath, [main(service)], {
    env: { PATH: process.env.PATH ?? "", HOST: "0.0.0.0", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let output = "";
  const keep = (chunk: Buffer) => {
    output += String(chunk);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = once(child, "exit").then(([code]) => code as number | null);
  return { child, output: () => output, exited };
}

async function waitFor(tier: Tier, pattern: RegExp, timeoutMs = 60_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = pattern.exec(tier.output());
    if (found) return found;
    if (tier.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`no ${pattern} in:\n${tier.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Every TCP port something on this host listens on, read now (LISTEN rows). */
async function listeningPorts(): Promise<number[]> {
  const ports = new Set<number>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await readFile(file, "utf8").catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[3] !== "0A") continue;
      const port = Number.parseInt(fields[1]?.split(":").at(-1) ?? "", 16);
      if (Number.isInteger(port)) ports.add(port);
    }
  }
  return [...ports].sort((a, b) => a - b);
}

/** The host as a build can name it: the network's gateway and the host's own IPv4 addresses. */
async function hostAddresses(): Promise<{ gateway: string; all: string[] }> {
  const [inspected] = JSON.parse(
    (await runPodman(podman.env, ["network", "inspect", NETWORK])).stdout,
  ) as { subnets: { gateway: string }[] }[];
  const gateway = inspected?.subnets[0]?.gateway as string;
  const own = Object.values(networkInterfaces())
    .flat()
    .flatMap((entry) =>
      entry && !entry.internal && entry.family === "IPv4" ? [entry.address] : [],
    );
  return { gateway, all: [...new Set([gateway, ...own])] };
}

/**
 * `host:port` of every target a build container's TCP connect reaches:
 * busybox nc, refused or timed out is closed, anything else connected.
 */
async function reachable(container: Docker.Container, targets: string[]): Promise<string[]> {
  const script = targets
    .map((target) => {
      const [host, port] = target.split(" ");
      return `if nc -w 2 ${host} ${port} </dev/null 2>&1 >/dev/null | grep -q -e "can't connect" -e "timed out"; then :; else echo "${host}:${port}"; fi`;
    })
    .join("\n");
  return (await execText(docker, container, script)).filter(Boolean);
}

beforeAll(async () => {
  podman = await startPodmanService();
  docker = new Docker({ socketPath: podman.socketPath });
  image = await buildImagebuilderDouble(podman, { ...ATH79_24_10_DOUBLE, baseContainer: BASE });
  await runPodman(podman.env, ["network", "create", "--opt", "isolate=true", NETWORK]);
  redis = await startRedisServer();
  upstream = await startFakeUpstream();
  publicPath = await mkdtemp(join(tmpdir(), "asu-e2e-guard-"));
}, 300_000);

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  await Promise.all(containers.map((c) => c.remove({ force: true, v: true }).catch(() => {})));
  await unguardBuildNetwork(NETWORK).catch(() => {});
  if (podman) {
    await runPodman(podman.env, ["network", "rm", "-f", NETWORK], { allowFailure: true });
    await podman.stop();
  }
  await redis?.stop();
  await upstream?.close();
  if (publicPath) await rm(publicPath, { recursive: true, force: true });
}, 120_000);

const workerEnv = (metricsPort: number, extra: Record<string, string> = {}) => ({
  REDIS_URL: redis.url,
  PUBLIC_PATH: publicPath,
  CONTAINER_SOCKET_PATH: podman.socketPath,
  CONTAINER_NETWORK: NETWORK,
  IMAGE_PULL: "never",
  METRICS_PORT: String(metricsPort),
  ...extra,
});

describe("a worker's build network", () => {
  it("refuses to start unguarded, starts when told, and once guarded no host port answers a build", async () => {
    // The tiers, each its own process, on every address of the host.
    const build = startProcess("build-api", {
      PORT: "0",
      REDIS_URL: redis.url,
      UPSTREAM_URL: upstream.url,
      PUBLIC_PATH: publicPath,
    });
    const buildPort = Number((await waitFor(build, /"url":"http:\/\/[^"]+:(\d+)"/))[1]);
    const prepare = startProcess("prepare", {
      PORT: "0",
      UPSTREAM_URL: upstream.url,
      BUILD_API_URL: `http://127.0.0.1:${buildPort}`,
    });
    const preparePort = Number((await waitFor(prepare, /"url":"http:\/\/[^"]+:(\d+)"/))[1]);

    // Unguarded: one line, naming the fix, and no worker.
    const refused = startProcess("worker", workerEnv(await freePort()));
    expect(await refused.exited).toBe(2);
    const lines = refused.output().trim().split("\n");
    const refusal = lines.filter((line) => line.includes("not starting"));
    expect(refusal).toHaveLength(1);
    expect(JSON.parse(refusal[0] as string)).toMatchObject({ level: "error", network: NETWORK });
    expect(refusal[0]).toContain(`pnpm guard:build-network -- --network ${NETWORK}`);
    expect(refusal[0]).toContain("ALLOW_UNGUARDED_BUILD_NETWORK=1");
    expect(refused.output()).not.toContain("worker started");

    // The operator accepts it: the worker starts, with a warning.
    const metricsPort = await freePort();
    const allowed = startProcess(
      "worker",
      workerEnv(metricsPort, { ALLOW_UNGUARDED_BUILD_NETWORK: "1" }),
    );
    await waitFor(allowed, /"msg":"worker started"/);
    expect(allowed.output()).toMatch(/"level":"warn"[^\n]*is not guarded/);

    const container = await docker.createContainer(
      buildContainerOptions({
        image,
        requestHash: `guard-test-${run}`,
        workerId: `guard-test-${run}`,
        jobTimeoutSeconds: 300,
        network: NETWORK,
        sandbox: {
          memoryBytes: 128 * 1024 ** 2,
          cpus: 1,
          diskMb: 64,
          outputMaxMb: 16,
          pidsLimit: 64,
        },
      }),
    );
    containers.push(container);
    await container.start();
    const { gateway, all } = await hostAddresses();
    const tiers = [buildPort, preparePort, metricsPort];
    // Unguarded, the probe reaches the tiers through the gateway: it can fail.
    expect(
      await reachable(
        container,
        tiers.map((port) => `${gateway} ${port}`),
      ),
    ).toEqual(tiers.map((port) => `${gateway}:${port}`));

    await guardBuildNetwork(NETWORK, { env: podman.env });
    const ports = [...new Set([...(await listeningPorts()), ...tiers])];
    expect(ports).toEqual(expect.arrayContaining(tiers));
    const targets = all.flatMap((address) =>
      // aardvark-dns at the gateway answers names: the guard's one opening, by design.
      ports
        .filter((port) => !(address === gateway && port === 53))
        .map((port) => `${address} ${port}`),
    );
    expect(await reachable(container, targets)).toEqual([]);

    // Guarded, a worker starts without being told anything.
    allowed.child.kill("SIGTERM");
    await allowed.exited;
    const guarded = startProcess("worker", workerEnv(await freePort()));
    await waitFor(guarded, /"msg":"worker started"/);
    expect(guarded.output()).toContain("the build network is guarded (nft on this host)");
    guarded.child.kill("SIGTERM");
    build.child.kill("SIGTERM");
    prepare.child.kill("SIGTERM");
    await Promise.all([guarded.exited, build.exited, prepare.exited]);
  }, 300_000);
});
