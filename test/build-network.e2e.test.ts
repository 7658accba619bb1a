import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildContainerOptions } from "../packages/build-worker/src/build-container.ts";
import {
  guardBuildNetwork,
  unguardBuildNetwork,
} from "../packages/build-worker/src/build-network-guard.ts";
import { ATH79_24_10_DOUBLE } from "./support/asu-stack.ts";
import { buildImagebuilderDouble } from "./support/imagebuilder-double.ts";
import {
  execText as execIn,
  HTTP,
  type ProbeProtocol,
  probe as probeFrom,
  REDIS,
} from "./support/network-probe.ts";
import { type PodmanService, runPodman, startPodmanService } from "./support/podman-service.ts";
import { type RedisServer, startRedisServer } from "./support/redis-server.ts";
import { startTcpRelay, type TcpRelay } from "./support/tcp-relay.ts";

/*
 * What code running inside a build (a package's maintainer script, a
 * tampered download) can reach. A build container made with the worker's own
 * create options, on an isolated build network, tries to connect to a Redis
 * and a tier standing in the stack's isolated network, and to the Redis on
 * the host; the same probe from a plain network pair shows it can succeed.
 * Ports the host listens on at every address (HOST=0.0.0.0) are reachable
 * at the gateway until the host guards the network (build-network-guard).
 */

const BASE = "localhost/asu-e2e-network/imagebuilder";
const run = randomBytes(3).toString("hex");
const NETWORKS = {
  build: `asu-test-isolated-build-${run}`,
  stack: `asu-test-isolated-stack-${run}`,
  plainBuild: `asu-test-plain-build-${run}`,
  plainStack: `asu-test-plain-stack-${run}`,
};
const SANDBOX = {
  memoryBytes: 128 * 1024 * 1024,
  cpus: 1,
  diskMb: 64,
  outputMaxMb: 16,
  pidsLimit: 64,
};

let podman: PodmanService;
let docker: Docker;
let image: string;
let hostRedis: RedisServer;
const containers: Docker.Container[] = [];
const hostServers: Server[] = [];
const relays: TcpRelay[] = [];

/** A stand-in of Redis (6379) and a tier (8000): busybox httpd on both ports. */
async function stackService(network: string): Promise<string> {
  const container = await docker.createContainer({
    Image: image,
    Cmd: [
      "sh",
      "-c",
      "httpd -p 6379 -h /usr/share/imagebuilder-double; exec httpd -f -p 8000 -h /usr/share/imagebuilder-double",
    ],
    Labels: { "asu-test": `network-${run}` },
    HostConfig: { NetworkMode: network },
  });
  containers.push(container);
  await container.start();
  const info = await container.inspect();
  const address = info.NetworkSettings.Networks[network]?.IPAddress;
  if (!address) throw new Error(`no address on ${network}`);
  return address;
}

/** A build container exactly as a worker creates it, on `network`. */
async function buildContainer(network: string): Promise<Docker.Container> {
  const container = await docker.createContainer(
    buildContainerOptions({
      image,
      requestHash: `network-test-${run}-${network}`,
      workerId: `network-test-${run}`,
      jobTimeoutSeconds: 300,
      network,
      sandbox: SANDBOX,
    }),
  );
  containers.push(container);
  await container.start();
  return container;
}

function probe(
  container: Docker.Container,
  targets: [host: string, port: number | string, protocol?: ProbeProtocol][],
): Promise<string[]> {
  return probeFrom(docker, container, targets);
}

function execText(container: Docker.Container, script: string): Promise<string[]> {
  return execIn(docker, container, script);
}

beforeAll(async () => {
  podman = await startPodmanService();
  docker = new Docker({ socketPath: podman.socketPath });
  image = await buildImagebuilderDouble(podman, { ...ATH79_24_10_DOUBLE, baseContainer: BASE });
  for (const [kind, name] of Object.entries(NETWORKS)) {
    const isolate = kind.startsWith("plain") ? [] : ["--opt", "isolate=true"];
    await runPodman(podman.env, ["network", "create", ...isolate, name]);
  }
  hostRedis = await startRedisServer();
}, 300_000);

/** A host service listening on every address, as a tier with HOST=0.0.0.0 does. */
async function hostHttpServer(): Promise<number> {
  const server = createServer((_req, res) => res.end("ok"));
  hostServers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
  return (server.address() as AddressInfo).port;
}

async function gatewayOf(network: string): Promise<string> {
  const [inspected] = JSON.parse(
    (await runPodman(podman.env, ["network", "inspect", network])).stdout,
  ) as {
    subnets: { gateway: string }[];
  }[];
  const gateway = inspected?.subnets[0]?.gateway;
  expect(gateway).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  return gateway as string;
}

afterAll(async () => {
  await unguardBuildNetwork(NETWORKS.build).catch(() => {});
  for (const server of hostServers) server.close();
  await Promise.all(relays.map((relay) => relay.close()));
  await Promise.all(containers.map((c) => c.remove({ force: true, v: true }).catch(() => {})));
  if (podman) {
    await runPodman(podman.env, ["network", "rm", "-f", ...Object.values(NETWORKS)], {
      allowFailure: true,
    });
    await podman.stop();
  }
  await hostRedis?.stop();
}, 120_000);

describe("the build network", () => {
  it("keeps a build from reaching Redis and the tiers on the stack's isolated network", async () => {
    const stack = await stackService(NETWORKS.stack);
    const build = await buildContainer(NETWORKS.build);
    expect(
      await probe(build, [
        [stack, 6379],
        [stack, 8000],
      ]),
    ).toEqual(["closed", "closed"]);

    // The probe itself works: across a plain pair of networks it connects.
    const plainStack = await stackService(NETWORKS.plainStack);
    const plainBuild = await buildContainer(NETWORKS.plainBuild);
    expect(
      await probe(plainBuild, [
        [plainStack, 6379],
        [plainStack, 8000],
      ]),
    ).toEqual(["open", "open"]);
  }, 180_000);

  it("keeps a build from reaching a Redis on the host, which listens on loopback only", async () => {
    const build = await buildContainer(NETWORKS.build);
    const gateway = await gatewayOf(NETWORKS.build);
    expect(await probe(build, [[gateway, hostRedis.port, REDIS]])).toEqual(["closed"]);
    // The build container has no route to the Podman socket or the store: no mounts at all.
    const info = await build.inspect();
    expect(info.Mounts).toEqual([]);
    expect(info.HostConfig.Binds ?? []).toEqual([]);
  }, 180_000);

  it("keeps a build from reaching any port the host listens on, once the host guards the network", async () => {
    const build = await buildContainer(NETWORKS.build);
    const gateway = await gatewayOf(NETWORKS.build);
    // The all-in-one server's API or a worker's metrics on HOST=0.0.0.0; a
    // Redis not bound to loopback; a package cache on the host, allowed.
    const api = await hostHttpServer();
    const redis = await startTcpRelay({ host: "0.0.0.0", targetPort: hostRedis.port });
    relays.push(redis);
    const cache = await hostHttpServer();
    const targets: [string, number, typeof HTTP][] = [
      [gateway, api, HTTP],
      [gateway, redis.port, REDIS],
      [gateway, cache, HTTP],
    ];
    // Isolation alone leaves them open: the host is not a container.
    expect(await probe(build, targets)).toEqual(["open", "open", "open"]);

    const script = await guardBuildNetwork(NETWORKS.build, {
      env: podman.env,
      allowTcpPorts: [cache],
    });
    expect(script).toContain(`tcp dport ${cache} accept`);
    expect(await probe(build, targets)).toEqual(["closed", "closed", "open"]);
    // Names still resolve: aardvark-dns at the gateway stays reachable.
    const { Name } = await build.inspect();
    const [address] = await execText(
      build,
      `nslookup ${Name.replace(/^\//, "")} ${gateway} | grep -c '^Address'`,
    );
    expect(Number(address)).toBeGreaterThanOrEqual(2);

    // Unguarded again, the same probe connects: the guard, nothing else, closed them.
    await unguardBuildNetwork(NETWORKS.build);
    expect(await probe(build, targets)).toEqual(["open", "open", "open"]);
  }, 180_000);
});
