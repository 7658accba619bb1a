import { createHash } from "node:crypto";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { createBuildTier } from "@asu/build-tier";
import { type RunningWorker, startWorker } from "@asu/build-worker";
import { type Config, describeConfig } from "@asu/config";
import { gracefulStop } from "@asu/http";
import { createLogger, type Logger } from "@asu/observability";
import { settleWithin } from "@asu/queue";
import { createAdaptorServer } from "@hono/node-server";
import { describeExit, type SupervisedChild } from "./child-process.ts";
import { lockDataDir } from "./data-lock.ts";
import { ensurePodmanNetwork, isNetworkMode } from "./podman-network.ts";
import { guardPrivateBuildNetwork } from "./private-build-guard.ts";
import { startPrivatePodman } from "./private-podman.ts";
import { startPrivateRedis } from "./private-redis.ts";
import { PODMAN_PROGRAM, REDIS_PROGRAM, requirePrograms } from "./program-check.ts";
import { createServerApp } from "./server-app.ts";
import { neededPrograms, type ServerConfig } from "./server-config.ts";

/** In-flight requests (a download, say) get this long once the server stops listening. */
const HTTP_CLOSE_GRACE_MS = 3_000;
/**
 * With Redis or Podman dead the worker cannot hand builds back or remove
 * containers; it gets this long to try. The next start removes what is left,
 * as its worker id is the same.
 */
const BROKEN_WORKER_CLOSE_MS = 10_000;
const REDIS_READY_TIMEOUT_MS = 15_000;

export interface StartServerOptions extends ServerConfig {
  /** Where ./data (Redis's files, Podman's socket) lives; default the working directory. */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Aborting during start-up stops what already started and rejects. */
  signal?: AbortSignal;
  /** Log destination of every part (default stdout). */
  logDestination?: Parameters<typeof createLogger>[0]["destination"];
}

export interface PrivateServiceInfo {
  pid: number;
  /** Redis's data folder or Podman's socket. */
  location: string;
}

export interface RunningServer {
  url: string;
  /** The effective configuration: the private services' addresses filled in. */
  config: Config;
  redis?: PrivateServiceInfo;
  podman?: PrivateServiceInfo;
  worker: RunningWorker;
  logger: Logger;
  /** Resolves when a private service dies underneath the server: it cannot go on. */
  failure: Promise<Error>;
  /** Stops everything in order: HTTP, worker (hands back running builds), Redis client, children. */
  stop(): Promise<void>;
  /** A second Ctrl-C: hand running builds back to the queue now instead of after the grace period. */
  cancelBuilds(): void;
}

type Cleanup = { name: string; run: () => Promise<unknown> };

function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolvePromise, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off("listening", onListening);
      reject(
        error.code === "EADDRINUSE"
          ? new Error(`port ${port} on ${host} is in use: stop what uses it or set PORT`)
          : error,
      );
    };
    const onListening = () => {
      server.off("error", onError);
      resolvePromise(server.address() as AddressInfo);
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, host);
  });
}

/**
 * The public listener's stop, prepared once it listens: it drains as a
 * tier's does (SHUTDOWN_DRAIN, `Connection: close`, no connection reset),
 * and a connection still open past the drain and a grace is closed.
 */
function drainingStop(server: Server, drainMs: number): () => Promise<void> {
  let closed: () => void = () => {};
  const stop = gracefulStop(server, () => closed(), { drainMs });
  return () =>
    new Promise((resolvePromise) => {
      const force = setTimeout(() => server.closeAllConnections(), drainMs + HTTP_CLOSE_GRACE_MS);
      closed = () => {
        clearTimeout(force);
        resolvePromise();
      };
      stop();
    });
}

/** `http://localhost:8000` for a wildcard address, else the address itself. */
function publicUrl(host: string, port: number): string {
  const shown = host === "0.0.0.0" || host === "::" || host === "" ? "localhost" : host;
  return `http://${shown.includes(":") ? `[${shown}]` : shown}:${port}`;
}

/**
 * One server per data folder (the lock sees to it), so a name derived from
 * the folder is unique, and a restarted server removes the build containers
 * a killed predecessor left behind.
 */
function stableWorkerId(dataDir: string): string {
  const digest = createHash("sha256").update(dataDir).digest("hex").slice(0, 8);
  return `${hostname()}-server-${digest}`;
}

/**
 * The whole ASU server in this process: private Redis and Podman unless
 * configured, the prepare and build tiers on one port, one worker.
 */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const env = options.env ?? process.env;
  const dataDir = resolve(options.cwd ?? process.cwd(), "data");
  const config: Config = { ...options.config };
  const level = config.log_level;
  const logger = createLogger({ service: "server", level, destination: options.logDestination });
  const tierLogger = (service: string) =>
    createLogger({ service, level, destination: options.logDestination });

  const programs = requirePrograms(neededPrograms(options), env.PATH);

  const cleanups: Cleanup[] = [];
  let stopping: Promise<void> | undefined;
  const runCleanups = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup.run();
      } catch (error) {
        logger.error({ err: error, part: cleanup.name }, "did not stop cleanly");
      }
    }
  };
  const stop = () => {
    stopping ??= runCleanups();
    return stopping;
  };

  let reportFailure: (error: Error) => void = () => {};
  const failure = new Promise<Error>((resolvePromise) => {
    reportFailure = resolvePromise;
  });
  let broken = false;
  const watch = (name: string, child: SupervisedChild) => {
    void child.exited.then((exit) => {
      if (stopping) return;
      broken = true;
      reportFailure(new Error(`${name} stopped unexpectedly (${describeExit(exit)})`));
    });
  };

  try {
    const lock = await lockDataDir(dataDir, logger);
    cleanups.push({ name: "data lock", run: () => lock.release() });
    const [redisChild, podmanChild] = await Promise.allSettled([
      options.privateRedis
        ? startPrivateRedis({
            program: programs.get(REDIS_PROGRAM) as string,
            dataDir: join(dataDir, "redis"),
          })
        : undefined,
      options.privatePodman
        ? startPrivatePodman({
            program: programs.get(PODMAN_PROGRAM) as string,
            dir: join(dataDir, "podman"),
            env,
          })
        : undefined,
    ]);
    // Both are registered before any failure is raised, so neither is left behind.
    let redis: PrivateServiceInfo | undefined;
    let podman: PrivateServiceInfo | undefined;
    if (redisChild.status === "fulfilled" && redisChild.value) {
      const started = redisChild.value;
      cleanups.push({ name: "redis-server", run: () => started.stop() });
      config.redis_url = started.url;
      redis = { pid: started.child.pid, location: join(dataDir, "redis") };
      logger.info({ pid: redis.pid, data: redis.location }, "private redis-server ready");
      watch("redis-server", started.child);
    }
    if (podmanChild.status === "fulfilled" && podmanChild.value) {
      const started = podmanChild.value;
      cleanups.push({ name: "podman system service", run: () => started.stop() });
      config.container_socket_path = started.socketPath;
      podman = { pid: started.child.pid, location: started.socketPath };
      logger.info({ pid: podman.pid, socket: podman.location }, "private podman service ready");
      watch("podman system service", started.child);
    }
    await lock.record({
      ...(redis && { [REDIS_PROGRAM.program]: redis.pid }),
      ...(podman && { [PODMAN_PROGRAM.program]: podman.pid }),
    });
    if (redisChild.status === "rejected") throw redisChild.reason;
    if (podmanChild.status === "rejected") throw podmanChild.reason;
    options.signal?.throwIfAborted();

    if (podman && (await ensurePodmanNetwork(podman.location, config.container_network))) {
      logger.info({ network: config.container_network }, "created the build containers' network");
    }
    if (podman && !isNetworkMode(config.container_network)) {
      const unguard = await guardPrivateBuildNetwork({
        socketPath: podman.location,
        network: config.container_network,
        allowTcpPorts: config.build_host_ports,
        urls: [config.upstream_url, config.cache_url],
        env,
        logger,
      });
      if (unguard) cleanups.push({ name: "build network guard", run: unguard });
    }

    const tier = createBuildTier({ config, logger: tierLogger("build") });
    cleanups.push({ name: "build tier", run: () => tier.close() });
    // A Redis that never answers must end the start with a reason, not hang it.
    if (!(await tier.ready(REDIS_READY_TIMEOUT_MS))) {
      throw new Error(
        `Redis at ${describeConfig(config).REDIS_URL} did not answer within ${REDIS_READY_TIMEOUT_MS / 1000} s: check REDIS_URL`,
      );
    }
    const app = createServerApp({
      build: tier,
      settings: config,
      logger: tierLogger("prepare"),
    });
    cleanups.push({ name: "prepare tier", run: () => app.close() });
    options.signal?.throwIfAborted();

    const worker = await startWorker({
      config,
      logger: tierLogger("worker"),
      workerId: env.WORKER_ID || stableWorkerId(dataDir),
    });
    cleanups.push({
      name: "worker",
      run: () => (broken ? settleWithin(worker.close(), BROKEN_WORKER_CLOSE_MS) : worker.close()),
    });
    options.signal?.throwIfAborted();

    const http = createAdaptorServer({ fetch: app.fetch }) as Server;
    const address = await listen(http, config.port ?? 8000, config.host);
    cleanups.push({ name: "http", run: drainingStop(http, config.shutdown_drain * 1000) });
    options.signal?.throwIfAborted();

    const url = publicUrl(config.host, address.port);
    return {
      url,
      config,
      redis,
      podman,
      worker,
      logger,
      failure,
      stop,
      cancelBuilds: () => worker.worker.cancelAllJobs("server stopping"),
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
