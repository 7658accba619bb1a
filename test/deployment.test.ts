import { createHash, randomBytes } from "node:crypto";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { envName, settingKeys } from "@asu/config";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { unguardBuildNetwork } from "../packages/build-worker/src/build-network-guard.ts";
import { freeLoopbackPort } from "../services/server/src/private-redis.ts";
import { postJson, waitForBuild } from "./support/asu-stack.ts";
import {
  ensureNodeBaseImage,
  ensureRedisImage,
  removeRunImages,
  testBuildLabel,
} from "./support/base-image.ts";
import { type ComposeStack, startComposeStack } from "./support/compose-stack.ts";
import {
  type FakeUpstream,
  FIXTURE_REVISION_24_10,
  startFakeUpstream,
} from "./support/fake-upstream.ts";
import {
  buildImagebuilderDouble,
  type ImagebuilderDoubleOptions,
  mirrorFiles,
} from "./support/imagebuilder-double.ts";
import { type PodmanService, runPodman, startPodmanService } from "./support/podman-service.ts";
import { findCommand } from "./support/run-command.ts";
import { startTcpRelay, type TcpRelay } from "./support/tcp-relay.ts";
import { startTlsStandIn, type TlsStandIn } from "./support/tls-stand-in.ts";

/*
 * The deployments as an operator runs them: images built with `podman build`
 * from the Containerfiles (on a base image made here: no registry), a stack
 * started by podman-compose from the repository's compose file and a .env,
 * and a firmware built through the published port (Caddy): prepare → build →
 * poll → download. Only the internet and the ImageBuilder are stand-ins: the
 * fake upstream answers as https://downloads.openwrt.org on the build network
 * (a TLS stand-in with a test CA), and the ImageBuilder double downloads its
 * feeds and packages through its repository file from there, directly or
 * through the stack's package cache.
 */

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const IMAGE_PREFIX = "localhost/asu-test/deploy";
const TIERS = ["prepare", "build", "worker", "proxy", "package-cache"] as const;
/** The tiers that are Node programs, with a node_modules to look into. */
const NODE_TIERS = ["prepare", "build", "worker"] as const;
const BASE_CONTAINER_REPOSITORY = "localhost/asu-test/deploy-imagebuilder";
const REVISION = FIXTURE_REVISION_24_10;
const PREPARE_REPLICAS = 2;
const MIRROR_HOST = "downloads.openwrt.org";
const DOUBLE: ImagebuilderDoubleOptions = {
  tag: "v24.10.0",
  flavour: "opkg",
  version: "24.10.0",
  revision: REVISION,
  target: "ath79/generic",
  downloadPackages: true,
};
const ARCHER = {
  version: "24.10.0",
  target: "ath79/generic",
  profile: "tplink,archer-c7-v5",
  packages: ["luci", "auc"],
};

const compose = findCommand("podman-compose");
const debootstrap = findCommand("debootstrap");
const missing = [!compose && "podman-compose", !debootstrap && "debootstrap"].filter(Boolean);
if (missing.length > 0) {
  console.warn(
    `deployment test skipped: ${missing.join(" and ")} not installed ` +
      "(scripts/test-all.sh installs them: apt-get install -y podman-compose debootstrap)",
  );
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
const seconds = (since: number) => Math.round((performance.now() - since) / 100) / 10;

describe("the .env example", () => {
  it("names every setting of the configuration schema", async () => {
    const example = await readFile(join(ROOT, ".env.example"), "utf8");
    const named = new Set([...example.matchAll(/\b[A-Z][A-Z0-9_]+\b/g)].map((match) => match[0]));
    const unnamed = settingKeys()
      .map(envName)
      .filter((name) => !named.has(name));
    expect(unnamed).toEqual([]);
  });
});

describe.skipIf(missing.length > 0)("deployment with podman-compose", () => {
  // Per run: runs side by side (other checkouts, other agents) share the
  // Podman storage and must not start each other's images.
  const run = `${process.pid}-${randomBytes(3).toString("hex")}`;
  const imageOf = (tier: string) => `${IMAGE_PREFIX}/${tier}:${run}`;
  // The double of this run (it downloads its packages): another run's double
  // under a shared name would be built by another checkout's code.
  const baseContainer = `${BASE_CONTAINER_REPOSITORY}-${run}`;
  const phases: { phase: string; seconds: number; note?: string }[] = [];
  const built: string[] = [];
  let podman: PodmanService;
  let upstream: FakeUpstream | undefined;
  let relay: TcpRelay | undefined;
  let mirror: TlsStandIn | undefined;
  let network: string | undefined;
  let baseImage: string;
  let redisImage: string;

  async function phase<T>(name: string, work: () => Promise<T>, note?: (value: T) => string) {
    const started = performance.now();
    const value = await work();
    phases.push({ phase: name, seconds: seconds(started), note: note?.(value) });
    return value;
  }

  async function buildImage(tier: string, tag = imageOf(tier)): Promise<void> {
    await phase(`podman build ${tier}`, () =>
      runPodman(podman.env, [
        "build",
        "--format",
        "docker",
        ...testBuildLabel(run),
        "--build-arg",
        `BASE_IMAGE=${baseImage}`,
        "-f",
        join(ROOT, `Containerfile.${tier}`),
        "-t",
        tag,
        ROOT,
      ]),
    );
    built.push(tag);
  }

  /**
   * The package cache image as built, plus the test CA in its trust store:
   * what an operator does for feeds behind a private CA.
   */
  async function buildPackageCacheImage(): Promise<void> {
    const plain = `${IMAGE_PREFIX}/package-cache-plain:${run}`;
    await buildImage("package-cache", plain);
    const dir = await mkdtemp(join(tmpdir(), "asu-cache-ca-"));
    try {
      await writeFile(join(dir, "test-ca.crt"), mirror!.caCert);
      await writeFile(
        join(dir, "Containerfile"),
        [
          `FROM ${plain}`,
          "USER root",
          "COPY test-ca.crt /usr/local/share/ca-certificates/asu-test-ca.crt",
          "RUN update-ca-certificates",
          "USER www-data",
          "",
        ].join("\n"),
      );
      await runPodman(podman.env, [
        "build",
        "--format",
        "docker",
        "-t",
        imageOf("package-cache"),
        dir,
      ]);
      built.push(imageOf("package-cache"));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  const ensured = new Map<string, Promise<void>>();
  /** Builds a tier's image once per run, for whichever stack needs it first. */
  function ensureImage(tier: string): Promise<void> {
    if (!ensured.has(tier)) ensured.set(tier, buildImage(tier));
    return ensured.get(tier)!;
  }

  async function imageInfo(tier: string): Promise<any> {
    return JSON.parse((await runPodman(podman.env, ["image", "inspect", imageOf(tier)])).stdout)[0];
  }

  /** The .env of a test deployment: this run's images, the fake upstream, the test double. */
  function deploymentEnv(publishPort: number): Record<string, string> {
    return {
      CONTAINER_SOCKET_PATH: podman.socketPath,
      ASU_PUBLISH: `127.0.0.1:${publishPort}`,
      ASU_IMAGE_PREFIX: IMAGE_PREFIX,
      ASU_IMAGE_TAG: run,
      REDIS_IMAGE: redisImage,
      UPSTREAM_URL: `http://host.containers.internal:${relay!.port}`,
      BASE_CONTAINER: baseContainer,
      IMAGE_PULL: "never",
      // The double downloads some 60 files per build: room for a loaded machine.
      JOB_TIMEOUT: "600",
      CONTAINER_NETWORK: network!,
      REDIS_PASSWORD: randomBytes(12).toString("hex"),
    };
  }

  async function waitForStack(url: string, stack: ComposeStack): Promise<void> {
    try {
      await vi.waitFor(
        async () => {
          const res = await fetch(`${url}/health`);
          const body = (await res.json()) as any;
          if (res.status !== 200 || !(body.workers?.online >= 1)) {
            throw new Error(`${res.status} ${JSON.stringify(body)}`);
          }
        },
        { timeout: 180_000, interval: 500 },
      );
    } catch (error) {
      const last = (error as Error).message;
      throw new Error(`stack not ready at ${url} (${last}):\n${await stack.diagnostics()}`);
    }
  }

  /** What a client does: prepare, build the prepared request, poll, download, check. */
  async function buildThrough(url: string, packages = ARCHER.packages): Promise<void> {
    const prepared = await postJson(`${url}/api/v1/build/prepare`, {
      ...ARCHER,
      packages,
      from_version: "23.05.0",
    });
    expect(prepared.status).toBe(200);
    const queued = await postJson(
      `${url}/api/v1/build?skip_package_resolution=true`,
      prepared.body.prepared_request,
    );
    expect(queued.status).toBe(202);
    expect(queued.body.request_hash).toBe(prepared.body.request_hash);

    const done = await waitForBuild(url, prepared.body.request_hash, 600_000);
    if (done.status !== 200) throw new Error(`build failed: ${JSON.stringify(done.body)}`);
    expect(done.body).toMatchObject({ detail: "done", version_code: REVISION });
    const sysupgrade = done.body.images.find((image: any) => image.type === "sysupgrade");
    expect(sysupgrade).toBeDefined();

    const file = `${url}/store/${done.body.bin_dir}/${sysupgrade.name}`;
    const res = await fetch(file);
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("content-type")).toBe("application/octet-stream");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(sha256(bytes)).toBe(sysupgrade.sha256);
    const head = await fetch(file, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(bytes.length));
    const range = await fetch(file, { headers: { Range: "bytes=0-9" } });
    expect(range.status).toBe(206);
    expect(Buffer.from(await range.arrayBuffer())).toEqual(bytes.subarray(0, 10));
    // No listings: a build's folder and the store itself are no files.
    expect((await fetch(`${url}/store/${done.body.bin_dir}/`)).status).toBe(404);
    expect((await fetch(`${url}/store/`)).status).toBe(404);
  }

  /** The first build of a stack, then prepare learns from the build tier that it exists. */
  async function firstBuildThrough(url: string): Promise<void> {
    const prepared = await postJson(`${url}/api/v1/build/prepare`, {
      ...ARCHER,
      from_version: "23.05.0",
    });
    expect(prepared.body.resolved_packages).toEqual(["luci", "owut"]);
    await buildThrough(url);
    // Asked again, prepare learns from the build tier that the result exists.
    // It believes "not built" for a moment, then asks again.
    await expect
      .poll(
        async () =>
          (
            await postJson(`${url}/api/v1/build/prepare`, {
              ...ARCHER,
              packages: ["luci", "owut"],
            })
          ).body.cache_available,
        { timeout: 15_000 },
      )
      .toBe(true);
  }

  /** Package files the fake upstream was asked for (directly, or by the cache). */
  const packageRequests = () =>
    upstream!.requests.filter((request) => request.path.endsWith(".ipk")).length;

  /** Both the compose file's check (which replaces the image's) and the image's own HEALTHCHECK. */
  async function expectHealthy(stack: ComposeStack): Promise<void> {
    for (const { name, service } of await stack.containers()) {
      // The compose check's own 5 s timeout can pass on a loaded machine: a
      // healthy container passes one of a few tries, as Podman's retries allow.
      let result = { code: -1, stdout: "", stderr: "" };
      await expect
        .poll(
          async () => {
            result = await runPodman(podman.env, ["healthcheck", "run", name], {
              allowFailure: true,
            });
            return result.code;
          },
          { timeout: 60_000, interval: 2_000 },
        )
        .toBe(0)
        .catch(() => {
          throw new Error(`${name}: ${result.stdout}${result.stderr}`);
        });
      // Redis has no image of ours; build-guard runs the worker image with a check of its own.
      if (service === "redis" || service === "build-guard") continue;
      const [kind, ...command] = (await imageInfo(service)).Healthcheck.Test as string[];
      expect(kind).toBe("CMD");
      const own = await runPodman(podman.env, ["exec", name, ...command], { allowFailure: true });
      expect(own.code, `${name} image healthcheck: ${own.stdout}${own.stderr}`).toBe(0);
    }
  }

  beforeAll(async () => {
    podman = await startPodmanService();
    // As systemd's podman.socket: group read-write, so the worker (gid 0) reaches it.
    await chmod(podman.socketPath, 0o660);
    const base = await phase(
      "base image (debootstrap + host node)",
      () => ensureNodeBaseImage(podman.env),
      (image) => (image.built ? "built" : "cached"),
    );
    baseImage = base.ref;
    const redis = await phase(
      "redis image (apt-get)",
      () => ensureRedisImage(podman.env, base.ref),
      (image) => (image.built ? "built" : "cached"),
    );
    redisImage = redis.ref;
    built.push(
      await phase("imagebuilder double", () =>
        buildImagebuilderDouble(podman, { ...DOUBLE, baseContainer }),
      ),
    );
    // The fake upstream listens on loopback; containers reach the host at
    // host.containers.internal (their network's gateway): relay from every address.
    upstream = await startFakeUpstream();
    for (const [path, content] of await mirrorFiles(DOUBLE)) upstream.addFile(path, content);
    relay = await startTcpRelay({
      host: "0.0.0.0",
      targetPort: Number(new URL(upstream.url).port),
    });
    // The build network of this run: the stand-in's name lives there only.
    network = `asu-test-build-${run}`;
    await runPodman(podman.env, ["network", "create", "--opt", "isolate=true", network]);
    mirror = await phase("TLS stand-in for downloads.openwrt.org", () =>
      startTlsStandIn({
        podmanEnv: podman.env,
        network: network!,
        hostname: MIRROR_HOST,
        image: baseImage,
        targetHost: "host.containers.internal",
        targetPort: relay!.port,
      }),
    );
  }, 20 * 60_000);

  afterAll(async () => {
    await mirror?.stop();
    await relay?.close();
    await upstream?.close();
    let leftImages: string[] = [];
    // The stacks' build-guard left its table on this host, as it does for operators.
    if (network) await unguardBuildNetwork(network).catch(() => {});
    if (podman) {
      if (network)
        await runPodman(podman.env, ["network", "rm", "-f", network], { allowFailure: true });
      if (built.length > 0) await runPodman(podman.env, ["rmi", ...built], { allowFailure: true });
      // Then the layers that only they used: nothing of a run stays behind.
      leftImages = await removeRunImages(podman.env, run);
      await podman.stop();
    }
    if (phases.length > 0) {
      console.info(
        `deployment test phases (s):\n${phases
          .map(({ phase, seconds, note }) => `  ${phase}: ${seconds}${note ? ` (${note})` : ""}`)
          .join("\n")}`,
      );
    }
    expect(leftImages).toEqual([]);
  }, 120_000);

  describe("microservices: podman-compose.microservices.yml", () => {
    let stack: ComposeStack | undefined;
    let url: string;

    const containersOf = async (service: string) =>
      (await stack!.containers()).filter((container) => container.service === service);
    const logsOf = async (service: string) => {
      const [container] = await containersOf(service);
      return (await runPodman(podman.env, ["logs", container!.name])).stdout;
    };
    /** The package cache's access log: one JSON object a line. */
    const cacheLog = async () =>
      (await logsOf("package-cache"))
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as { path: string; cache: string; status: number });

    beforeAll(async () => {
      for (const tier of TIERS) {
        if (tier === "package-cache") await buildPackageCacheImage();
        else await ensureImage(tier);
      }
      const port = await freeLoopbackPort();
      url = `http://127.0.0.1:${port}`;
      stack = await phase("podman-compose up (microservices)", () =>
        startComposeStack({
          compose: compose as string,
          composeFile: join(ROOT, "podman-compose.microservices.yml"),
          project: `asu-deploy-${run}`,
          podmanEnv: podman.env,
          env: {
            ...deploymentEnv(port),
            PREPARE_REPLICAS: String(PREPARE_REPLICAS),
            BUILD_REPLICAS: "1",
            WORKER_REPLICAS: "1",
            // This machine may have fewer than the default 4 CPUs to give.
            WORKER_CPUS: "1",
            WORKER_MEMORY: "1G",
            // Request lines (debug) show which prepare replica answered.
            LOG_LEVEL: "DEBUG",
          },
        }),
      );
      await phase("ready through the proxy", () => waitForStack(url, stack!));
      // Five image builds: long on a loaded 2-core machine, short when the layers are cached.
    }, 60 * 60_000);

    afterAll(async () => {
      if (stack) await phase("podman-compose down -v (microservices)", () => stack!.down());
    }, 120_000);

    it("guards the build network by default: the worker reads the guard through build-guard", async () => {
      expect(await logsOf("build-guard")).toContain("guarded the build network against the host");
      expect(await logsOf("worker")).toContain(
        "the build network is guarded (the build-guard container",
      );
    }, 60_000);

    it("builds non-root images with healthchecks; the prepare image has no Redis or Podman client", async () => {
      const users: Record<string, string> = {};
      for (const tier of TIERS) {
        const info = await imageInfo(tier);
        users[tier] = info.Config.User;
        // One fetch of /health (the worker's on METRICS_PORT).
        expect(info.Healthcheck?.Test?.join(" "), tier).toMatch(/\/health/);
      }
      expect(users).toEqual({
        prepare: "asu",
        build: "asu",
        worker: "10001:0",
        proxy: "caddy",
        "package-cache": "www-data",
      });

      const packagesOf = async (tier: string) =>
        (
          await runPodman(podman.env, [
            "run",
            "--rm",
            "--entrypoint",
            "ls",
            imageOf(tier),
            "/app/node_modules/.pnpm",
          ])
        ).stdout;
      const packages: Record<string, string> = {};
      for (const tier of NODE_TIERS) packages[tier] = await packagesOf(tier);
      const clients = /^(ioredis|bullmq|dockerode|docker-modem|ssh2)@/m;
      expect(packages.prepare).not.toMatch(clients);
      expect(packages.worker).toMatch(/^dockerode@/m);
      // node runs the TypeScript itself: no loader or compiler in production.
      for (const tier of NODE_TIERS) {
        expect(packages[tier], tier).not.toMatch(/^(tsx|esbuild|typescript)@/m);
      }
    }, 300_000);

    // The second build needs the cache the first one warmed: one test, in order.
    it("runs prepare → build → poll → download through Caddy; packages come through the cache, a second build's from the cache", async () => {
      await phase("prepare → build → download (proxy, cache cold)", () => firstBuildThrough(url));
      const cold = (await cacheLog()).filter((entry) => entry.path.endsWith(".ipk"));
      expect(cold.length).toBeGreaterThan(0);
      expect(cold.every((entry) => entry.status === 200)).toBe(true);
      expect(cold.map((entry) => entry.cache)).toContain("MISS");

      const logged = (await cacheLog()).length;
      const asked = packageRequests();
      // Another request (another hash) whose packages the first build fetched.
      await phase("second build (cache warm)", () => buildThrough(url, ["luci"]));
      const warm = (await cacheLog()).slice(logged).filter((entry) => entry.path.endsWith(".ipk"));
      expect(warm.length).toBeGreaterThan(0);
      expect(new Set(warm.map((entry) => entry.cache))).toEqual(new Set(["HIT"]));
      expect(packageRequests()).toBe(asked);
    }, 1_800_000);

    it("passes request ids through, logs JSON, compresses JSON, answers CORS preflights, spreads prepare over the replicas", async () => {
      const preflight = await fetch(`${url}/api/v1/build/prepare`, {
        method: "OPTIONS",
        headers: {
          Origin: "https://firmware-selector.openwrt.org",
          "Access-Control-Request-Method": "POST",
          "Access-Control-Request-Headers": "content-type",
        },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
      expect(preflight.headers.get("access-control-allow-headers")).toBe("content-type");

      const requestId = `deploy-${run}`;
      const traced = await fetch(`${url}/json/v1/overview.json`, {
        headers: { "X-Request-Id": requestId, "Accept-Encoding": "gzip" },
      });
      expect(traced.status).toBe(200);
      expect(traced.headers.get("x-request-id")).toBe(requestId);
      expect(traced.headers.get("content-encoding")).toBe("gzip");
      expect(traced.headers.get("access-control-allow-origin")).toBe("*");
      const minted = await fetch(`${url}/api/v1/stats`);
      expect(minted.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
      const accessLog = (await logsOf("proxy"))
        .split("\n")
        .filter((line) => line.includes(requestId))
        .map((line) => JSON.parse(line));
      expect(accessLog).toContainEqual(
        expect.objectContaining({
          status: 200,
          request: expect.objectContaining({ uri: "/json/v1/overview.json" }),
        }),
      );

      // Concurrent requests open connections of their own, which Caddy deals out.
      await Promise.all(
        Array.from({ length: 8 }, () =>
          postJson(`${url}/api/v1/build/prepare`, { version: "24.10.0" }),
        ),
      );
      const replicas = await containersOf("prepare");
      expect(replicas).toHaveLength(PREPARE_REPLICAS);
      for (const { name } of replicas) {
        const { stdout } = await runPodman(podman.env, ["logs", name]);
        expect(stdout, name).toContain('"path":"/api/v1/build/prepare"');
      }
    }, 60_000);

    it("answers the old list path 404 through the proxy and on the build tier; nothing of the build tier is published", async () => {
      expect((await fetch(`${url}/api/v1/build-cache/completed`)).status).toBe(404);
      const script =
        'fetch("http://127.0.0.1:8000/api/v1/build-cache/completed").then((r) => process.stdout.write(String(r.status)))';
      for (const { name } of await containersOf("build")) {
        expect((await runPodman(podman.env, ["port", name])).stdout.trim()).toBe("");
        expect((await runPodman(podman.env, ["exec", name, "node", "-e", script])).stdout).toBe(
          "404",
        );
      }
    }, 90_000);

    it("passes every healthcheck; prepare replicas stay within 512 MB and half a CPU", async () => {
      await expectHealthy(stack!);
      const notes: string[] = [];
      for (const { name, service } of await stack!.containers()) {
        if (service !== "prepare") continue;
        const [info] = JSON.parse((await runPodman(podman.env, ["inspect", name])).stdout) as any[];
        expect(info.HostConfig.Memory).toBe(512 * 1024 * 1024);
        expect(info.HostConfig.NanoCpus).toBe(500_000_000);
        expect(info.State.OOMKilled).toBe(false);
        const stats = await runPodman(podman.env, [
          "stats",
          "--no-stream",
          "--format",
          "{{.MemUsage}}",
          name,
        ]);
        notes.push(`${service} ${stats.stdout.trim()}`);
      }
      phases.push({ phase: "prepare replicas' memory", seconds: 0, note: notes.join("; ") });
    }, 900_000);

    it("builds with the package cache down: the worker falls back to the direct URLs", async () => {
      const [cache] = await containersOf("package-cache");
      await runPodman(podman.env, ["stop", "-t", "5", cache!.name]);
      try {
        const asked = packageRequests();
        await phase("build with the cache down", () => buildThrough(url, ["auc"]));
        // The stand-in mirror saw the ImageBuilder's own requests.
        expect(packageRequests()).toBeGreaterThan(asked);
        expect(await logsOf("worker")).toContain("package cache unreachable");
      } finally {
        await runPodman(podman.env, ["start", cache!.name], { allowFailure: true });
      }
    }, 900_000);
  });

  describe("one server: podman-compose.yml", () => {
    let stack: ComposeStack | undefined;
    let url: string;

    beforeAll(async () => {
      await ensureImage("server");
      await ensureImage("proxy");
      // The build-guard service runs the worker image.
      await ensureImage("worker");
      const port = await freeLoopbackPort();
      url = `http://127.0.0.1:${port}`;
      stack = await phase("podman-compose up (one server)", () =>
        startComposeStack({
          compose: compose as string,
          composeFile: join(ROOT, "podman-compose.yml"),
          project: `asu-server-${run}`,
          podmanEnv: podman.env,
          env: deploymentEnv(port),
        }),
      );
      await phase("ready (one server)", () => waitForStack(url, stack!));
    }, 40 * 60_000);

    afterAll(async () => {
      if (stack) await phase("podman-compose down -v (one server)", () => stack!.down());
    }, 120_000);

    it("runs prepare → build → poll → download through Caddy and passes its healthchecks", async () => {
      expect((await imageInfo("server")).Config.User).toBe("10001:0");
      const asked = packageRequests();
      await phase("prepare → build → download (one server)", () => firstBuildThrough(url));
      // No package cache in this stack: the ImageBuilder downloads directly.
      expect(packageRequests()).toBeGreaterThan(asked);
      await expectHealthy(stack!);
    }, 900_000);
  });
});
