import { createHash, randomBytes } from "node:crypto";
import { chmod, readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { envName, settingKeys } from "@asu/config";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postJson, waitForBuild } from "./support/asu-stack.ts";
import { ensureNodeBaseImage, ensureRedisImage } from "./support/base-image.ts";
import { type ComposeStack, startComposeStack } from "./support/compose-stack.ts";
import { type FakeUpstream, startFakeUpstream } from "./support/fake-upstream.ts";
import { buildImagebuilderDouble } from "./support/imagebuilder-double.ts";
import { type PodmanService, runPodman, startPodmanService } from "./support/podman-service.ts";
import { findCommand } from "./support/run-command.ts";
import { startTcpRelay, type TcpRelay } from "./support/tcp-relay.ts";

/*
 * The deployments as an operator runs them: images built with `podman build`
 * from the Containerfiles (on a base image made here: no registry), a stack
 * started by podman-compose from the repository's compose file and a .env,
 * and a firmware built through the published port: prepare → build → poll →
 * download. Only the internet (fake upstream) and the ImageBuilder (test
 * double) are stand-ins.
 */

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const IMAGE_PREFIX = "localhost/asu-test/deploy";
const TIERS = ["prepare", "build", "worker", "gateway"] as const;
const BASE_CONTAINER = "localhost/asu-test/deploy-imagebuilder";
const REVISION = "r28427-6df0e3d02a";
const PREPARE_REPLICAS = 2;
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

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

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
  const phases: { phase: string; seconds: number; note?: string }[] = [];
  const built: string[] = [];
  let podman: PodmanService;
  let upstream: FakeUpstream | undefined;
  let relay: TcpRelay | undefined;
  let baseImage: string;
  let redisImage: string;

  async function phase<T>(name: string, work: () => Promise<T>, note?: (value: T) => string) {
    const started = performance.now();
    const value = await work();
    phases.push({ phase: name, seconds: seconds(started), note: note?.(value) });
    return value;
  }

  async function buildImage(tier: string): Promise<void> {
    await phase(`podman build ${tier}`, () =>
      runPodman(podman.env, [
        "build",
        "--format",
        "docker",
        "--build-arg",
        `BASE_IMAGE=${baseImage}`,
        "-f",
        join(ROOT, `Containerfile.${tier}`),
        "-t",
        imageOf(tier),
        ROOT,
      ]),
    );
    built.push(imageOf(tier));
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
      BASE_CONTAINER,
      IMAGE_PULL: "never",
      JOB_TIMEOUT: "120",
    };
  }

  async function waitForStack(url: string, stack: ComposeStack): Promise<void> {
    const deadline = Date.now() + 180_000;
    let last = "no answer";
    while (Date.now() < deadline) {
      try {
        const res = await fetch(`${url}/health`);
        const body = (await res.json()) as any;
        last = `${res.status} ${JSON.stringify(body)}`;
        if (res.status === 200 && body.workers?.online >= 1) return;
      } catch (error) {
        last = (error as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    throw new Error(`stack not ready at ${url} (${last}):\n${await stack.diagnostics()}`);
  }

  /** What a client does: prepare, build the prepared request, poll, download, check. */
  async function buildThrough(url: string): Promise<void> {
    const prepared = await postJson(`${url}/api/v1/build/prepare`, {
      ...ARCHER,
      from_version: "23.05.0",
    });
    expect(prepared.status).toBe(200);
    expect(prepared.body.resolved_packages).toEqual(["luci", "owut"]);

    const queued = await postJson(
      `${url}/api/v1/build?skip_package_resolution=true`,
      prepared.body.prepared_request,
    );
    expect(queued.status).toBe(202);
    expect(queued.body.request_hash).toBe(prepared.body.request_hash);

    const done = await waitForBuild(url, prepared.body.request_hash, 120_000);
    if (done.status !== 200) throw new Error(`build failed: ${JSON.stringify(done.body)}`);
    expect(done.body).toMatchObject({ detail: "done", version_code: REVISION });
    const sysupgrade = done.body.images.find((image: any) => image.type === "sysupgrade");
    expect(sysupgrade).toBeDefined();

    const res = await fetch(`${url}/store/${done.body.bin_dir}/${sysupgrade.name}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(sysupgrade.sha256);

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

  /** Both the compose file's check (which replaces the image's) and the image's own HEALTHCHECK. */
  async function expectHealthy(stack: ComposeStack): Promise<void> {
    for (const { name, service } of await stack.containers()) {
      const result = await runPodman(podman.env, ["healthcheck", "run", name], {
        allowFailure: true,
      });
      expect(result.code, `${name}: ${result.stdout}${result.stderr}`).toBe(0);
      if (service === "redis") continue;
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
    await phase("imagebuilder double", () =>
      buildImagebuilderDouble(podman, {
        tag: "v24.10.0",
        flavour: "opkg",
        version: "24.10.0",
        revision: REVISION,
        target: "ath79/generic",
        baseContainer: BASE_CONTAINER,
      }),
    );
    // The fake upstream listens on loopback; containers reach the host at
    // host.containers.internal (their network's gateway): relay from every address.
    upstream = await startFakeUpstream();
    relay = await startTcpRelay({
      host: "0.0.0.0",
      targetPort: Number(new URL(upstream.url).port),
    });
  }, 20 * 60_000);

  afterAll(async () => {
    await relay?.close();
    await upstream?.close();
    if (podman) {
      // The layers stay behind as the next run's build cache.
      if (built.length > 0) await runPodman(podman.env, ["rmi", ...built], { allowFailure: true });
      await podman.stop();
    }
    if (phases.length > 0) {
      console.info(
        `deployment test phases (s):\n${phases
          .map(({ phase, seconds, note }) => `  ${phase}: ${seconds}${note ? ` (${note})` : ""}`)
          .join("\n")}`,
      );
    }
  }, 120_000);

  describe("microservices: podman-compose.microservices.yml", () => {
    let stack: ComposeStack | undefined;
    let url: string;

    beforeAll(async () => {
      for (const tier of TIERS) await buildImage(tier);
      const port = await freePort();
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
      await phase("ready through the gateway", () => waitForStack(url, stack!));
    }, 20 * 60_000);

    afterAll(async () => {
      if (stack) await phase("podman-compose down -v (microservices)", () => stack!.down());
    }, 120_000);

    it("builds non-root images with healthchecks; the prepare image has no Redis or Podman client", async () => {
      const users: Record<string, string> = {};
      for (const tier of TIERS) {
        const info = await imageInfo(tier);
        users[tier] = info.Config.User;
        // One fetch of /health (the worker's on METRICS_PORT).
        expect(info.Healthcheck?.Test?.join(" "), tier).toMatch(/\/health/);
      }
      expect(users).toEqual({ prepare: "asu", build: "asu", worker: "10001:0", gateway: "asu" });

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
      for (const tier of TIERS) packages[tier] = await packagesOf(tier);
      const clients = /^(ioredis|bullmq|dockerode|docker-modem|ssh2)@/m;
      expect(packages.prepare).not.toMatch(clients);
      expect(packages.worker).toMatch(/^dockerode@/m);
      // node runs the TypeScript itself: no loader or compiler in production.
      for (const tier of TIERS) {
        expect(packages[tier], tier).not.toMatch(/^(tsx|esbuild|typescript)@/m);
      }
    }, 300_000);

    it("runs prepare → build → poll → download through the gateway", async () => {
      await phase("prepare → build → download (gateway)", () => buildThrough(url));
    }, 180_000);

    it("answers CORS preflights through the gateway and spreads prepare requests over the replicas", async () => {
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

      // Concurrent requests open connections of their own, which the gateway deals out.
      await Promise.all(
        Array.from({ length: 8 }, () =>
          postJson(`${url}/api/v1/build/prepare`, { version: "24.10.0" }),
        ),
      );
      const replicas = (await stack!.containers()).filter(({ service }) => service === "prepare");
      expect(replicas).toHaveLength(PREPARE_REPLICAS);
      for (const { name } of replicas) {
        const { stdout } = await runPodman(podman.env, ["logs", name]);
        expect(stdout, name).toContain('"path":"/api/v1/build/prepare"');
      }
    }, 60_000);

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
    }, 180_000);
  });

  describe("one server: podman-compose.yml", () => {
    let stack: ComposeStack | undefined;
    let url: string;

    beforeAll(async () => {
      await buildImage("server");
      const port = await freePort();
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
    }, 20 * 60_000);

    afterAll(async () => {
      if (stack) await phase("podman-compose down -v (one server)", () => stack!.down());
    }, 120_000);

    it("runs prepare → build → poll → download on the one port and passes its healthchecks", async () => {
      expect((await imageInfo("server")).Config.User).toBe("10001:0");
      await phase("prepare → build → download (one server)", () => buildThrough(url));
      await expectHealthy(stack!);
    }, 180_000);
  });
});
