import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readdir, rm, symlink } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildContainerOptions } from "../packages/build-worker/src/build-container.ts";
import { guardTableName } from "../packages/build-worker/src/build-network-guard.ts";
import { listBuildContainers } from "../packages/build-worker/src/imagebuilder-session.ts";
import { postJson, waitForBuild } from "./support/asu-stack.ts";
import {
  type FakeUpstream,
  FIXTURE_REVISION_24_10,
  startFakeUpstream,
} from "./support/fake-upstream.ts";
import { buildImagebuilderDouble } from "./support/imagebuilder-double.ts";
import { type ProbeProtocol, probe } from "./support/network-probe.ts";
import { type PodmanService, runPodman, startPodmanService } from "./support/podman-service.ts";
import { runCommand } from "./support/run-command.ts";
import { startTcpRelay, type TcpRelay } from "./support/tcp-relay.ts";

/*
 * `pnpm start` as an operator runs it: the real process, its own redis-server
 * and Podman service, one port for both tiers, one worker; then SIGTERM.
 */

const SERVER_MAIN = new URL("../services/server/src/main.ts", import.meta.url).pathname;
const BASE = "localhost/asu-server-start/imagebuilder";
const REVISION = FIXTURE_REVISION_24_10;
const suffix = randomBytes(4).toString("hex");
const WORKER_ID = `server-start-${suffix}`;
/** Not asu-build: the server has to create it, as on a fresh machine. */
const NETWORK = `asu-server-start-${suffix}`;

const archer = {
  version: "24.10.0",
  target: "ath79/generic",
  profile: "tplink,archer-c7-v5",
  packages: ["luci", "auc"],
};

let upstream: FakeUpstream;
let podman: PodmanService;
let docker: Docker;
let workDir: string;
let image: string;
const started: ServerProcess[] = [];
const probeContainers: Docker.Container[] = [];
const hostServers: Server[] = [];
const relays: TcpRelay[] = [];

interface ServerProcess {
  child: ChildProcess;
  lines: Record<string, any>[];
  output(): string;
  exited: Promise<{ code: number | null; at: number }>;
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, any>>;
}

function serverEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && key !== "REDIS_URL" && key !== "CONTAINER_SOCKET_PATH") {
      env[key] = value;
    }
  }
  return {
    ...env,
    UPSTREAM_URL: upstream.url,
    BASE_CONTAINER: BASE,
    IMAGE_PULL: "never",
    CONTAINERS_CONF: podman.env.CONTAINERS_CONF as string,
    PORT: "0",
    HOST: "127.0.0.1",
    WORKER_ID,
    CONTAINER_NETWORK: NETWORK,
    WORKER_SHUTDOWN_GRACE: "1",
    JOB_TIMEOUT: "120",
    LOG_LEVEL: "info",
    // Several servers run side by side here; the worker's own metrics port would clash.
    METRICS_PORT: "0",
    ...overrides,
  };
}

/** Runs main.ts with node itself (no wrapper script in between), so signals reach it. */
function spawnServer(env: Record<string, string>, cwd = workDir): ServerProcess {
  const child = spawn(process.execPath, [SERVER_MAIN], {
    cwd,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Record<string, any>[] = [];
  let text = "";
  let pending = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    text += chunk.toString("utf8");
    pending += chunk.toString("utf8");
    const complete = pending.split("\n");
    pending = complete.pop() ?? "";
    for (const line of complete) {
      if (line.trim() === "") continue;
      lines.push(JSON.parse(line));
    }
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    text += chunk.toString("utf8");
  });
  const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
    child.once("exit", (code) => resolve({ code, at: Date.now() })),
  );
  const server: ServerProcess = {
    child,
    lines,
    output: () => text,
    exited,
    waitForLog(msg, timeoutMs = 60_000) {
      const line = () => lines.find((entry) => entry.msg === msg);
      const missing = () => new Error(`no "${msg}" log line; server output:\n${text}`);
      const logged = vi.waitFor(
        () => {
          const found = line();
          if (!found) throw missing();
          return found;
        },
        { timeout: timeoutMs, interval: 50 },
      );
      // An exited server writes no more: fail then, not at the timeout.
      const gone = exited.then(() => line() ?? Promise.reject(missing()));
      return Promise.race([logged, gone]);
    },
  };
  started.push(server);
  return server;
}

/** Running, and not a zombie waiting for whoever inherited it to reap it. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, "utf8") : "";
  return !stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
}

async function containersOfWorker() {
  return docker.listContainers({ all: true, filters: { label: [`asu.worker=${WORKER_ID}`] } });
}

beforeAll(async () => {
  upstream = await startFakeUpstream();
  podman = await startPodmanService();
  docker = new Docker({ socketPath: podman.socketPath });
  image = await buildImagebuilderDouble(podman, {
    tag: "v24.10.0",
    flavour: "opkg",
    version: "24.10.0",
    revision: REVISION,
    target: "ath79/generic",
    baseContainer: BASE,
  });
  workDir = await mkdtemp(join(tmpdir(), "asu-server-start-"));
}, 300_000);

afterAll(async () => {
  for (const server of started) {
    if (server.child.exitCode === null) server.child.kill("SIGKILL");
  }
  for (const line of started.flatMap((server) => server.lines)) {
    if (line.msg?.startsWith("private ") && typeof line.pid === "number" && isAlive(line.pid)) {
      process.kill(line.pid, "SIGKILL");
    }
  }
  await Promise.all(probeContainers.map((c) => c.remove({ force: true }).catch(() => {})));
  for (const server of hostServers) server.close();
  await Promise.all(relays.map((relay) => relay.close()));
  await runCommand("nft", ["delete", "table", "inet", guardTableName(NETWORK)], {
    allowFailure: true,
  });
  if (podman) await runPodman(podman.env, ["network", "rm", "-f", NETWORK], { allowFailure: true });
  await podman?.stop();
  await upstream?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
}, 60_000);

describe("pnpm start: the whole server in one process", () => {
  // One data folder's life, in order: the restart needs what the first run left.
  it("starts Redis and Podman itself, builds, stops cleanly on SIGTERM, and keeps results and queued builds across a restart (append-only file)", async () => {
    let builtHash = "";
    let slowHash = "";
    const server = spawnServer(serverEnv());
    try {
      const ready = await server.waitForLog("ready");
      const url = ready.url as string;
      const redisPid = (await server.waitForLog("private redis-server ready")).pid as number;
      const podmanPid = (await server.waitForLog("private podman service ready")).pid as number;
      const shown = (await server.waitForLog("configuration")).config;
      // The private Redis needs a password; the log shows it masked.
      expect(shown.REDIS_URL).toMatch(/^redis:\/\/:\*\*\*@127\.0\.0\.1:\d+$/);
      expect(shown.CONTAINER_SOCKET_PATH).toBe(join(workDir, "data/podman/podman.sock"));
      expect(server.output()).toContain(`ASU server ready at ${url}`);
      expect(server.lines.map((line) => line.msg)).toContain(
        "created the build containers' network",
      );
      expect((await runPodman(podman.env, ["network", "exists", NETWORK])).code).toBe(0);
      // Isolated: build containers cannot reach containers of other isolated networks.
      const inspected = await runPodman(podman.env, ["network", "inspect", NETWORK]);
      expect(JSON.parse(inspected.stdout)[0].options).toMatchObject({ isolate: "true" });

      // Both tiers on one port, one OpenAPI document.
      const prepared = await postJson(`${url}/api/v1/build/prepare`, {
        ...archer,
        from_version: "23.05.0",
      });
      expect(prepared.status).toBe(200);
      expect(prepared.body.resolved_packages).toEqual(["luci", "owut"]);
      expect(prepared.body.cache_available).toBe(false);
      const paths = Object.keys(((await (await fetch(`${url}/openapi.json`)).json()) as any).paths);
      expect(paths).toEqual(
        expect.arrayContaining(["/api/v1/build", "/api/v1/build/prepare", "/health"]),
      );

      const queued = await postJson(
        `${url}/api/v1/build?skip_package_resolution=true`,
        prepared.body.prepared_request,
      );
      expect(queued.status).toBe(202);
      builtHash = queued.body.request_hash;
      expect(builtHash).toBe(prepared.body.request_hash);
      const done = await waitForBuild(url, builtHash);
      expect(done.status).toBe(200);
      expect(done.body.version_code).toBe(REVISION);
      const image = done.body.images[0];
      const download = await fetch(`${url}/store/${done.body.bin_dir}/${image.name}`);
      expect(download.status).toBe(200);
      const bytes = Buffer.from(await download.arrayBuffer());
      expect(createHash("sha256").update(bytes).digest("hex")).toBe(image.sha256);

      // The prepare tier asks the build tier in the same process.
      // The prepare tier believes "not built" for a moment, then asks again.
      await expect
        .poll(
          async () =>
            (
              await postJson(`${url}/api/v1/build/prepare`, {
                ...archer,
                from_version: "23.05.0",
              })
            ).body.cache_available,
          { timeout: 15_000 },
        )
        .toBe(true);

      // A build still running at SIGTERM goes back to the queue, its container removed.
      const slow = await postJson(`${url}/api/v1/build`, {
        ...archer,
        packages: ["luci", "slowpackage"],
      });
      expect(slow.status).toBe(202);
      slowHash = slow.body.request_hash;
      await expect
        .poll(async () => (await listBuildContainers(docker, slowHash)).length, {
          timeout: 60_000,
          interval: 100,
        })
        .toBe(1);

      const signalledAt = Date.now();
      server.child.kill("SIGTERM");
      const exit = await server.exited;
      expect(exit.code).toBe(0);
      // WORKER_SHUTDOWN_GRACE is 1 s; then the build is handed back and its container removed.
      expect(exit.at - signalledAt).toBeLessThan(10_000);
      expect(server.lines.map((line) => line.msg)).toContain(
        "worker stopping: build handed back to the queue",
      );
      expect(isAlive(redisPid)).toBe(false);
      expect(isAlive(podmanPid)).toBe(false);
      expect(await containersOfWorker()).toEqual([]);
      expect(existsSync(join(workDir, "data/podman/podman.sock"))).toBe(false);
      const aof = await readdir(join(workDir, "data/redis/appendonlydir"));
      expect(aof).toContain("appendonly.aof.manifest");
      expect(aof.some((name) => name.endsWith(".incr.aof"))).toBe(true);
    } catch (error) {
      throw new Error(`${(error as Error).message}\nserver output:\n${server.output()}`);
    }

    const restarted = spawnServer(serverEnv());
    try {
      const url = (await restarted.waitForLog("ready")).url as string;
      const kept = await fetch(`${url}/api/v1/build/${builtHash}`);
      expect(kept.status).toBe(200);
      const resumed = await waitForBuild(url, slowHash);
      expect(resumed.status).toBe(200);
      // Built by this run: the handed-back job waited in Redis meanwhile.
      expect(
        restarted.lines.some((line) => line.msg === "build done" && line.request_hash === slowHash),
      ).toBe(true);

      restarted.child.kill("SIGTERM");
      expect((await restarted.exited).code).toBe(0);
      expect(await containersOfWorker()).toEqual([]);
    } catch (error) {
      throw new Error(`${(error as Error).message}\nserver output:\n${restarted.output()}`);
    }
  }, 240_000);
});

/** A host service listening on every address, as a tier with HOST=0.0.0.0 does. */
async function hostHttpServer(): Promise<number> {
  const server = createServer((_req, res) => res.end("ok"));
  hostServers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
  return (server.address() as AddressInfo).port;
}

/** An address of this host other than loopback: how a LAN mirror is named. */
function lanAddress(): string {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((entry) => entry && !entry.internal && entry.family === "IPv4")?.address;
  if (!address) throw new Error("this host has no IPv4 address beyond loopback");
  return address;
}

async function nftTableExists(network: string): Promise<boolean> {
  const listed = await runCommand("nft", ["list", "table", "inet", guardTableName(network)], {
    allowFailure: true,
  });
  return listed.code === 0;
}

describe("the build network's guard (issue 12)", () => {
  it("keeps builds off the host's ports while it runs, leaves their downloads open, and goes on stop", async () => {
    // The tests run as root with nft: the server guards its network itself.
    const cwd = await mkdtemp(join(tmpdir(), "asu-server-guard-"));
    // The fake upstream as a mirror on the LAN: builds and the server both reach it there.
    const mirror = await startTcpRelay({
      host: "0.0.0.0",
      targetPort: Number(new URL(upstream.url).port),
    });
    relays.push(mirror);
    const cache = await hostHttpServer();
    const other = await hostHttpServer();
    const server = spawnServer(
      serverEnv({
        HOST: "0.0.0.0",
        UPSTREAM_URL: `http://${lanAddress()}:${mirror.port}`,
        BUILD_HOST_PORTS: String(cache),
      }),
      cwd,
    );
    try {
      const url = (await server.waitForLog("ready")).url as string;
      const api = Number(new URL(url).port);
      const guarded = await server.waitForLog("guarded the build network against the host");
      expect(guarded.allowed_host_ports.sort()).toEqual([cache, mirror.port].sort());
      expect(await nftTableExists(NETWORK)).toBe(true);

      const [inspected] = JSON.parse(
        (await runPodman(podman.env, ["network", "inspect", NETWORK])).stdout,
      ) as { subnets: { gateway: string }[] }[];
      const gateway = inspected?.subnets[0]?.gateway as string;
      expect(gateway).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      const build = await docker.createContainer(
        buildContainerOptions({
          image,
          requestHash: `guard-probe-${suffix}`,
          workerId: `guard-probe-${suffix}`,
          jobTimeoutSeconds: 300,
          network: NETWORK,
          sandbox: {
            memoryBytes: 128 * 1024 * 1024,
            cpus: 1,
            diskMb: 64,
            outputMaxMb: 16,
            pidsLimit: 64,
          },
        }),
      );
      probeContainers.push(build);
      await build.start();
      const versions = { say: "GET /.versions.json HTTP/1.0\\r\\n\\r\\n", answer: "200 OK" };
      const targets: [string, number, ProbeProtocol?][] = [
        [gateway, api],
        [gateway, other],
        [gateway, cache],
        [lanAddress(), mirror.port, versions],
      ];
      expect(await probe(docker, build, targets)).toEqual(["closed", "closed", "open", "open"]);

      // Builds still succeed behind it.
      const queued = await postJson(`${url}/api/v1/build`, archer);
      expect(queued.status).toBe(202);
      const done = await waitForBuild(url, queued.body.request_hash);
      expect(done.status).toBe(200);

      server.child.kill("SIGTERM");
      expect((await server.exited).code).toBe(0);
      expect(server.lines.map((line) => line.msg)).toContain("removed the build network's guard");
      expect(await nftTableExists(NETWORK)).toBe(false);
      // Unguarded again, the host's other port answers: the guard, nothing else, closed it.
      expect(await probe(docker, build, [[gateway, other]])).toEqual(["open"]);
    } catch (error) {
      throw new Error(`${(error as Error).message}\nserver output:\n${server.output()}`);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  }, 180_000);
});

describe("one server per data folder", () => {
  it("refuses a second server and stops the helpers of a killed one", async () => {
    const killed = spawnServer(serverEnv());
    let running: ServerProcess | undefined;
    try {
      await killed.waitForLog("ready");
      const redisPid = (await killed.waitForLog("private redis-server ready")).pid as number;
      const podmanPid = (await killed.waitForLog("private podman service ready")).pid as number;
      killed.child.kill("SIGKILL");
      await killed.exited;
      // Its own process group: the helpers outlive a SIGKILL of the server.
      expect(isAlive(redisPid)).toBe(true);
      expect(isAlive(podmanPid)).toBe(true);

      running = spawnServer(serverEnv());
      await running.waitForLog("ready");
      const stopped = running.lines.filter(
        (line) => line.msg === "stopping a helper left running by a killed server",
      );
      expect(stopped.map((line) => line.pid).sort()).toEqual([redisPid, podmanPid].sort());
      expect(isAlive(redisPid)).toBe(false);
      expect(isAlive(podmanPid)).toBe(false);

      const second = spawnServer(serverEnv());
      expect((await second.exited).code).toBe(1);
      expect(second.output()).toContain(
        `another ASU server (pid ${running.child.pid}) is using ${join(workDir, "data")}`,
      );

      running.child.kill("SIGTERM");
      expect((await running.exited).code).toBe(0);
      expect(existsSync(join(workDir, "data/server.lock"))).toBe(false);
    } catch (error) {
      throw new Error(
        `${(error as Error).message}\nkilled:\n${killed.output()}\nrunning:\n${running?.output()}`,
      );
    }
  }, 120_000);
});

describe("missing programs", () => {
  it("exits at once naming the package to install", async () => {
    // Podman is there, redis-server is not.
    const bin = await mkdtemp(join(tmpdir(), "asu-server-path-"));
    await symlink("/usr/bin/podman", join(bin, "podman"));
    const cwd = await mkdtemp(join(tmpdir(), "asu-server-missing-"));
    try {
      const [onlyRedis, both] = [
        spawnServer(serverEnv({ PATH: bin }), cwd),
        spawnServer(serverEnv({ PATH: "/nonexistent" }), cwd),
      ];
      const first = await onlyRedis.exited;
      expect(first.code).not.toBe(0);
      expect(first.code).not.toBeNull();
      expect(onlyRedis.output()).toContain(
        "redis-server not found on PATH: install it (apt-get install redis-server) or set REDIS_URL",
      );
      expect(onlyRedis.output()).not.toContain("podman not found");

      expect((await both.exited).code).toBe(first.code);
      expect(both.output()).toContain("apt-get install redis-server");
      expect(both.output()).toContain("apt-get install podman");
      // Nothing was started, so nothing was written.
      expect(existsSync(join(cwd, "data"))).toBe(false);
    } finally {
      await rm(bin, { recursive: true, force: true });
      await rm(cwd, { recursive: true, force: true });
    }
  }, 60_000);

  it("needs no redis-server when REDIS_URL is set", async () => {
    const cwd = await mkdtemp(join(tmpdir(), "asu-server-missing-"));
    try {
      const server = spawnServer(
        serverEnv({ PATH: "/nonexistent", REDIS_URL: "redis://127.0.0.1:1" }),
        cwd,
      );
      const exit = await server.exited;
      expect(exit.code).not.toBe(0);
      expect(server.output()).toContain("apt-get install podman");
      expect(server.output()).not.toContain("redis-server");
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  }, 60_000);
});
