import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { loadConfig } from "@asu/config";
import {
  type BuildRequestInput,
  buildRequestSchema,
  DEFAULT_LIMITS,
  manifestHash,
  requestHash,
} from "@asu/contract";
import { createLogger } from "@asu/observability";
import { packagesForBuild } from "@asu/package-rules";
import {
  BUILD_STAGES,
  type BuildJobData,
  type BuildProgress,
  type BuildQueue,
  createBuildQueue,
  EXPIRY_KEY,
  readWorkers,
  type WorkerStatus,
} from "@asu/queue";
import { readErrorLog } from "@asu/stats";
import Docker from "dockerode";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildAnswer } from "../packages/build-tier/src/build-answer.ts";
import { ensureImage } from "../packages/build-worker/src/image-pull.ts";
import {
  BUILD_LABEL,
  WARM_BUILD,
  WORKER_LABEL,
} from "../packages/build-worker/src/imagebuilder-session.ts";
import { type RunningWorker, startWorker } from "../packages/build-worker/src/worker.ts";
import { containersGone } from "./support/containers.ts";
import { FIXTURE_REVISION_24_10 } from "./support/fake-upstream.ts";
import {
  buildImagebuilderDouble,
  defaultPackagesFor,
  PROFILE_PRESETS,
} from "./support/imagebuilder-double.ts";
import { type PodmanService, startPodmanService } from "./support/podman-service.ts";
import { type RedisServer, startRedisServer } from "./support/redis-server.ts";
import { serveApp } from "./support/serve-app.ts";
import { buildSigningDouble } from "./support/worker-signing-double.ts";

const BASE = "localhost/asu-test/worker-imagebuilder";
const OPKG_REVISION = FIXTURE_REVISION_24_10;
const APK_REVISION = "r29102-4b8c1b4e0f";
const LUCI_VERSION = "25.033.27781~eaa84a1-r1";
const ARCHER = "tplink_archer-c7-v5";
const SIGNING_IMAGE = `${BASE}-signing:ath79-generic-v24.10.0`;
const MISSING_IMAGE = `${BASE}:nowhere-v0.0.1`;
/** setup.sh's downloads fail at once: nothing listens there inside a container. */
const UNREACHABLE_UPSTREAM = "http://127.0.0.1:9";
const WORKER_MAIN = new URL("../services/worker/src/main.ts", import.meta.url).pathname;

const schema = buildRequestSchema(DEFAULT_LIMITS);
const sha256 = (bytes: Buffer | string) => createHash("sha256").update(bytes).digest("hex");

// A usign public key: "Ed", key number 0123456789abcdef, 32 key bytes.
const USIGN_KEY = Buffer.concat([
  Buffer.from("Ed"),
  Buffer.from("0123456789abcdef", "hex"),
  Buffer.alloc(32, 7),
]).toString("base64");
const PEM_KEY =
  "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEtestkeyforasu\n-----END PUBLIC KEY-----\n";

interface Flavour {
  image: string;
  version: string;
  target: string;
  profile: string;
  versionPath: string;
  snapshot: boolean;
}

const OPKG: Flavour = {
  image: `${BASE}:ath79-generic-v24.10.0`,
  version: "24.10.0",
  target: "ath79/generic",
  profile: ARCHER,
  versionPath: "releases/24.10.0",
  snapshot: false,
};
const APK: Flavour = {
  image: `${BASE}:x86-64-master`,
  version: "SNAPSHOT",
  target: "x86/64",
  profile: "generic",
  versionPath: "snapshots",
  snapshot: true,
};

let requestCounter = 0;

/** A job as the build tier enqueues it: parsed request, matched profile, its hash. */
function jobData(
  flavour: Flavour,
  input: Partial<BuildRequestInput> = {},
  options: { skip?: boolean; image?: string } = {},
): BuildJobData {
  const request = schema.parse({
    version: flavour.version,
    target: flavour.target,
    profile: flavour.profile,
    ...input,
  });
  const skipPackageResolution = options.skip ?? false;
  return {
    request,
    requestHash: requestHash(request, { skipPackageResolution }),
    packages: packagesForBuild(request, { skipPackageResolution }),
    image: options.image ?? flavour.image,
    versionPath: flavour.versionPath,
    snapshot: flavour.snapshot,
    resultTtl: 86_400,
    failureTtl: 3_600,
    requestId: `req-${++requestCounter}`,
  };
}

interface Outcome {
  state: string;
  answer: ReturnType<typeof buildAnswer>;
  data: BuildJobData;
  stages: string[];
}

/** Enqueues like the build tier and polls like a client until the job is finished. */
async function build(queue: BuildQueue, data: BuildJobData, timeoutMs = 150_000): Promise<Outcome> {
  await queue.enqueue(data);
  // Every stage a poll saw, in order.
  const stages: string[] = [];
  await vi.waitFor(
    async () => {
      const snapshot = await queue.snapshot(data.requestHash);
      if (!snapshot) throw new Error(`job ${data.requestHash} vanished`);
      const stage = (snapshot.progress as Partial<BuildProgress> | undefined)?.imagebuilder_status;
      if (stage && stages.at(-1) !== stage) stages.push(stage);
      expect(["completed", "failed"], `job still ${snapshot.state} (stages ${stages})`).toContain(
        snapshot.state,
      );
    },
    { timeout: timeoutMs, interval: 50 },
  );
  // snapshot() reads the job before its state: read once more so a job that
  // finished in between comes with its result.
  const settled = await queue.snapshot(data.requestHash);
  if (!settled) throw new Error(`job ${data.requestHash} vanished`);
  return { state: settled.state, answer: buildAnswer(settled), data, stages };
}

function workerConfig(redisUrl: string, publicPath: string, socketPath: string, env = {}) {
  return loadConfig({
    tomlPath: "",
    env: {
      REDIS_URL: redisUrl,
      PUBLIC_PATH: publicPath,
      CONTAINER_SOCKET_PATH: socketPath,
      IMAGE_PULL: "never",
      UPSTREAM_URL: UNREACHABLE_UPSTREAM,
      WORKER_CONCURRENCY: "4",
      LOG_LEVEL: "info",
      ALLOW_UNGUARDED_BUILD_NETWORK: "1",
      ...env,
    },
  });
}

describe("worker", () => {
  let podman: PodmanService;
  let docker: Docker;
  const redisServers: RedisServer[] = [];
  const workers: RunningWorker[] = [];
  const workerIds: string[] = [];
  const queues: BuildQueue[] = [];
  let publicPath: string;
  let main: { redis: Redis; queue: BuildQueue; worker: RunningWorker; logs: string[] };

  async function newRedis(): Promise<RedisServer> {
    const server = await startRedisServer();
    redisServers.push(server);
    return server;
  }

  async function newWorker(env: Record<string, string> = {}) {
    const server = await newRedis();
    const redis = server.client();
    const logs: string[] = [];
    const logger = createLogger({
      service: "worker",
      level: "info",
      destination: { write: (line: string) => logs.push(line) },
    });
    const id = `worker-test-${randomBytes(4).toString("hex")}`;
    workerIds.push(id);
    const worker = await startWorker({
      config: workerConfig(server.url, publicPath, podman.socketPath, env),
      logger,
      workerId: id,
    });
    workers.push(worker);
    const queue = createBuildQueue({ connection: redis });
    queues.push(queue);
    return { server, redis, queue, worker, logs };
  }

  async function containersOf(id: string) {
    return docker.listContainers({ all: true, filters: { label: [`${WORKER_LABEL}=${id}`] } });
  }

  function storeFile(data: BuildJobData, name: string): Promise<Buffer> {
    return readFile(join(publicPath, "store", data.requestHash, name));
  }

  /** The double writes what reached the build into every image file. */
  async function imageContent(data: BuildJobData, type = "sysupgrade"): Promise<string> {
    const body = buildBody(await build0(data));
    const image = (body.images as { name: string; type: string }[]).find((i) => i.type === type);
    if (!image) throw new Error(`no ${type} image`);
    const bytes = await storeFile(data, image.name);
    return (image.name.endsWith(".gz") ? gunzipSync(bytes) : bytes).toString("utf8");
  }

  const finished = new Map<string, Outcome>();
  async function build0(data: BuildJobData): Promise<Outcome> {
    const known = finished.get(data.requestHash);
    if (known) return known;
    const outcome = await build(main.queue, data);
    finished.set(data.requestHash, outcome);
    return outcome;
  }

  function buildBody(outcome: Outcome): Record<string, unknown> {
    expect(outcome.answer.body.detail, JSON.stringify(outcome.answer.body)).toBe("done");
    return outcome.answer.body;
  }

  beforeAll(async () => {
    podman = await startPodmanService();
    docker = new Docker({ socketPath: podman.socketPath });
    publicPath = await mkdtemp(join(tmpdir(), "asu-worker-public-"));
    await Promise.all([
      buildImagebuilderDouble(podman, {
        tag: "v24.10.0",
        flavour: "opkg",
        version: "24.10.0",
        revision: OPKG_REVISION,
        target: "ath79/generic",
        baseContainer: BASE,
      }),
      buildImagebuilderDouble(podman, {
        tag: "master",
        flavour: "apk",
        version: "SNAPSHOT",
        revision: APK_REVISION,
        target: "x86/64",
        baseContainer: BASE,
      }),
    ]);
    await buildSigningDouble(docker, OPKG.image, SIGNING_IMAGE);
    main = await newWorker();
  }, 300_000);

  afterAll(async () => {
    for (const worker of workers) await worker.close().catch(() => {});
    for (const queue of queues) await queue.close().catch(() => {});
    if (docker) {
      for (const id of workerIds) expect(await containersOf(id), id).toEqual([]);
    }
    for (const server of redisServers) await server.stop();
    await podman?.stop();
  }, 60_000);

  it.concurrent("builds an opkg release: result, store, hashes, expiry and logs", async () => {
    const data = jobData(OPKG, { packages: ["luci"] });
    const outcome = await build0(data);
    expect(outcome.state).toBe("completed");
    const body = buildBody(outcome);
    const manifest = body.manifest as Record<string, string>;
    expect(manifest.luci).toBe(LUCI_VERSION);
    expect(manifest["kmod-ath10k-ct"]).toBeDefined(); // a profile package
    const prefix = `openwrt-24.10.0-${manifestHash(manifest)}-ath79-generic-${ARCHER}`;
    expect(body).toMatchObject({
      status: 200,
      id: ARCHER,
      bin_dir: data.requestHash,
      request_hash: data.requestHash,
      version_code: OPKG_REVISION,
      version_number: "24.10.0",
      target: "ath79/generic",
      arch_packages: "mips_24kc",
      build_at: "2025-01-27T00:00:00.000000Z",
      image_prefix: prefix,
      supported_devices: ["tplink,archer-c7-v5", "archer-c7-v5"],
      titles: [{ model: "Archer C7", variant: "v5", vendor: "TP-Link" }],
      build_cmd_packages: ["luci"],
      build_cmd: [
        "make",
        "image",
        `PROFILE=${ARCHER}`,
        "PACKAGES=luci",
        `EXTRA_IMAGE_NAME=${manifestHash(manifest)}`,
        `BIN_DIR=/builder/${data.requestHash}`,
      ],
      imagebuilder_status: "done",
    });
    expect(body).not.toHaveProperty("profiles");
    expect(body.default_packages).toEqual(defaultPackagesFor("ath79/generic", "opkg"));

    const images = body.images as Record<string, string>[];
    expect(images.map((image) => image.type).sort()).toEqual(["factory", "kernel", "sysupgrade"]);
    for (const image of images) {
      expect(Object.keys(image).sort()).toEqual([
        "filesystem",
        "name",
        "sha256",
        "sha256_unsigned",
        "type",
      ]);
      expect(sha256(await storeFile(data, image.name as string))).toBe(image.sha256);
    }
    const stored = (await readdir(join(publicPath, "store", data.requestHash))).sort();
    expect(stored).toEqual(
      [...images.map((image) => image.name), `${prefix}.manifest`, "profiles.json"].sort(),
    );

    const expiry = Number(await main.redis.zscore(EXPIRY_KEY, data.requestHash));
    expect(expiry).toBeGreaterThan(Date.now() + 86_000_000);
    expect(expiry).toBeLessThanOrEqual(Date.now() + 86_400_000);

    const lines = main.logs
      .map((line) => JSON.parse(line))
      .filter((line) => line.request_hash === data.requestHash);
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) expect(line.request_id).toBe(data.requestId);
    expect(lines.map((line) => line.msg)).toContain("build done");
  });

  it.concurrent("builds the profile the build tier matched (board name → profile id)", async () => {
    // The device reports tplink,archer-a7-v5; the request arrives with `,` → `_`.
    const data = jobData(OPKG, { profile: "tplink,archer-a7-v5" });
    expect(data.request.profile).toBe("tplink_archer-a7-v5");
    const body = buildBody(await build0(data));
    expect(body.id).toBe("tplink_archer-a7-v5");
    expect(body.supported_devices).toEqual(["tplink,archer-a7-v5"]);
    for (const image of body.images as { name: string }[]) {
      expect(image.name).toContain("-ath79-generic-tplink_archer-a7-v5-");
    }
  });

  it.concurrent("diff_packages: defaults not requested are removed, in order", async () => {
    const defaults = defaultPackagesFor("ath79/generic", "opkg");
    const profilePackages = PROFILE_PRESETS["ath79/generic"]?.[0]?.devicePackages ?? [];
    const wanted = [
      "luci",
      ...defaults.filter((name) => name !== "ppp" && name !== "ppp-mod-pppoe"),
      ...profilePackages.filter((name) => name !== "kmod-usb2"),
    ];
    const data = jobData(OPKG, { packages: wanted, diff_packages: true });
    const body = buildBody(await build0(data));
    expect(body.build_cmd_packages).toEqual(["-kmod-usb2", "-ppp", "-ppp-mod-pppoe", ...wanted]);
    const manifest = body.manifest as Record<string, string>;
    expect(Object.keys(manifest)).not.toContain("ppp");
    expect(Object.keys(manifest)).not.toContain("kmod-usb2");
    expect(manifest.luci).toBe(LUCI_VERSION);
  });

  it.concurrent("packages_versions: a match builds, a mismatch fails with both versions", async () => {
    const good = jobData(OPKG, { packages_versions: { luci: LUCI_VERSION } });
    const bad = jobData(OPKG, { packages_versions: { luci: "1.0-r1" } });
    const [ok, wrong] = await Promise.all([build0(good), build0(bad)]);
    expect((buildBody(ok).manifest as Record<string, string>).luci).toBe(LUCI_VERSION);
    expect(wrong.state).toBe("failed");
    expect(wrong.answer.status).toBe(500);
    expect(wrong.answer.body.detail).toBe(
      `Error: Impossible package selection: luci version not as requested: 1.0-r1 vs. ${LUCI_VERSION}`,
    );
    expect(wrong.answer.body.stdout).toContain(`luci - ${LUCI_VERSION}\n`);
  });

  it.concurrent("an unknown package fails with opkg's output and lands in the error log", async () => {
    const data = jobData(OPKG, { packages: ["luci", "no-such-package"] });
    const outcome = await build0(data);
    expect(outcome.state).toBe("failed");
    expect(outcome.answer.body).toMatchObject({
      status: 500,
      detail: "Error: Impossible package selection: missing (no-such-package)",
      stdout: "Unknown package 'no-such-package'.\n",
      imagebuilder_status: "failed",
      failure_kind: "request",
    });
    expect(outcome.answer.body.stderr).toContain(
      " * opkg_install_cmd: Cannot install package no-such-package.",
    );
    expect(outcome.stages.at(-1)).toBe("failed");
    expect(await readErrorLog(main.redis)).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d 24\\.10\\.0:ath79/generic:${ARCHER} \\[request\\] Error: Impossible package selection: missing \\(no-such-package\\)$`,
        ),
      ),
    );
    const expiry = Number(await main.redis.zscore(EXPIRY_KEY, data.requestHash));
    expect(expiry).toBeGreaterThan(Date.now() + 3_000_000);
    expect(expiry).toBeLessThanOrEqual(Date.now() + 3_600_000);
  });

  it.concurrent("conflicts are reported for opkg and apk", async () => {
    const [opkg, apk] = await Promise.all([
      build0(jobData(OPKG, { packages: ["dnsmasq-full"] })),
      build0(jobData(APK, { packages: ["dnsmasq-full"] })),
    ]);
    expect(opkg.answer.body.detail).toBe(
      "Error: Impossible package selection: conflicts (dnsmasq, dnsmasq-full)",
    );
    // apk names the conflicting packages with their versions.
    expect(apk.answer.body.detail).toBe(
      "Error: Impossible package selection: conflicts (dnsmasq-2.90-r4, dnsmasq-full-2.90-r4)",
    );
    expect(apk.answer.body.stderr).toContain("ERROR: unable to select packages:");
  });

  it.concurrent("a version_code other than the ImageBuilder's fails at validate_revision", async () => {
    const outcome = await build0(jobData(OPKG, { version_code: "r1-deadbeef00" }));
    expect(outcome.answer.body.detail).toBe(
      `Error: Received incorrect version ${OPKG_REVISION} (requested r1-deadbeef00)`,
    );
    expect(outcome.answer.body.stdout).toContain("Available Profiles:");
    expect(outcome.stages).not.toContain("validate_manifest");
    const matching = await build0(jobData(OPKG, { version_code: OPKG_REVISION }));
    expect(buildBody(matching).version_code).toBe(OPKG_REVISION);
  });

  it.concurrent("images too big for the device fail with the storage message", async () => {
    const [big, tiny] = await Promise.all([
      build0(jobData(OPKG, { packages: ["bigpackage"] })),
      build0(jobData(APK, { rootfs_size_mb: 1 })),
    ]);
    for (const outcome of [big, tiny]) {
      expect(outcome.answer.body.detail).toBe("Error: Selected packages exceed device storage");
      expect(outcome.answer.body.stderr).toContain("is too big");
    }
    expect(big.stages.slice(-2)).toEqual(["building_image", "failed"]);
  });

  it.concurrent("defaults reach the image through FILES", async () => {
    const script = "uci set system.@system[0].hostname='asu'\nuci commit\n";
    const data = jobData(OPKG, { defaults: script });
    const body = buildBody(await build0(data));
    expect(body.build_cmd).toContain("FILES=/builder/asu-files");
    expect(await imageContent(data)).toContain(
      `--- files: /etc/uci-defaults/99-asu-defaults\n${script}`,
    );
  });

  it.concurrent("repositories (append and replace) and keys land in the ImageBuilder", async () => {
    const feed = { custom: "https://feed.example.org/packages" };
    const appended = jobData(OPKG, {
      repositories: feed,
      repositories_mode: "append",
      repository_keys: [USIGN_KEY],
    });
    const replaced = jobData(OPKG, { repositories: feed, repositories_mode: "replace" });
    const apk = jobData(APK, {
      repositories: { custom: "https://feed.example.org/packages.adb" },
      repositories_mode: "append",
      repository_keys: [PEM_KEY],
    });
    const [withAppend, withReplace, withApk] = await Promise.all([
      imageContent(appended),
      imageContent(replaced),
      imageContent(apk, "rootfs"),
    ]);
    expect(withAppend).toContain(
      [
        "--- repositories.conf",
        "src/gz openwrt_core https://downloads.openwrt.org/releases/24.10.0/targets/ath79/generic/packages",
        "src/gz openwrt_base https://downloads.openwrt.org/releases/24.10.0/packages/mips_24kc/base",
      ].join("\n"),
    );
    expect(withAppend).toContain(
      "option check_signature\nsrc/gz custom https://feed.example.org/packages\n",
    );
    expect(withAppend).toContain(
      `--- keys/0123456789abcdef\nuntrusted comment: 0123456789abcdef\n${USIGN_KEY}`,
    );
    // The ImageBuilder's own key stays.
    expect(withAppend).toContain("--- keys/d310c6f2833e97f7\n");
    expect(withReplace).toContain(
      "--- repositories.conf\nsrc/gz custom https://feed.example.org/packages\nsrc imagebuilder file:packages\noption check_signature\n---",
    );
    expect(withApk).toContain(
      "packages/packages.adb\nhttps://feed.example.org/packages.adb\n--- keys/custom-0.pem\n-----BEGIN PUBLIC KEY-----",
    );
    expect(withApk).not.toContain("--- repositories.conf");

    const badKey = await build0(jobData(OPKG, { repository_keys: ["not-a-key"] }));
    expect(badKey.answer.body.detail).toBe(
      "Error: A repository key is neither a usign public key nor a PEM key",
    );
  });

  it.concurrent("a SNAPSHOT build runs setup.sh with the target and branch path", async () => {
    const data = jobData(APK, { packages: ["luci"], rootfs_size_mb: 512, filesystem: "squashfs" });
    const outcome = await build0(data);
    const body = buildBody(outcome);
    expect(body).toMatchObject({
      version_number: "SNAPSHOT",
      version_code: APK_REVISION,
      id: "generic",
      build_at: "2025-01-27T00:00:00.000000Z",
    });
    expect((body.build_cmd as string[]).slice(6)).toEqual([
      "ROOTFS_PARTSIZE=512",
      "ROOTFS_FILESYSTEM=squashfs",
    ]);
    expect((body.images as { filesystem: string }[]).map((i) => i.filesystem)).toEqual([
      "squashfs",
      "squashfs",
      "squashfs",
    ]);
    const content = await imageContent(data, "rootfs");
    expect(content).toContain("rootfs_partsize: 512\n");
    expect(content).toContain(
      "--- repositories\nhttps://downloads.openwrt.org/snapshots/targets/x86/64/packages/packages.adb\n",
    );
    // The apk build names packages as apk does; the opkg feed has no apk-mbedtls.
    expect((body.manifest as Record<string, string>)["apk-mbedtls"]).toBeDefined();

    // setup.sh fetches by TARGET and VERSION_PATH from UPSTREAM_URL; a download
    // that fails is a failure of ours, not of the request.
    const wrongPath = { ...jobData(APK, { packages: ["htop"] }), versionPath: "releases/1.0.0" };
    const failed = await build0(wrongPath);
    expect(failed.answer.body).toMatchObject({
      detail: "Error: Could not set up ImageBuilder (returncode=1)",
      stdout: `Downloading ${UNREACHABLE_UPSTREAM}/releases/1.0.0/targets/x86/64/sha256sums\n`,
      failure_kind: "infrastructure",
    });
    expect(failed.answer.body.stderr).toContain("wget: can't connect to remote host");
  });

  it.concurrent("server-side rules apply unless the request was prepared", async () => {
    const legacy = jobData(OPKG, { packages: ["auc", "luci-i18n-base-en"] });
    const prepared = jobData(OPKG, { packages: ["auc"] }, { skip: true });
    const [resolved, asSent] = await Promise.all([build0(legacy), build0(prepared)]);
    const resolvedBody = buildBody(resolved);
    expect(resolvedBody.build_cmd_packages).toEqual(["owut"]);
    expect(resolvedBody.manifest).toHaveProperty("owut");
    expect(resolvedBody.manifest).not.toHaveProperty("auc");
    const sentBody = buildBody(asSent);
    expect(sentBody.build_cmd_packages).toEqual(["auc"]);
    expect(sentBody.manifest).toHaveProperty("auc");
    expect(sentBody.manifest).not.toHaveProperty("owut");
  });

  it.concurrent("stages are visible while the build runs", async () => {
    const data = jobData(OPKG, { packages: ["luci", "slowpackage"] });
    const outcome = await build0(data);
    expect(outcome.state).toBe("completed");
    expect(outcome.stages).toContain("validate_manifest");
    expect(outcome.stages).toContain("building_image");
    expect(outcome.stages.at(-1)).toBe("done");
    // Seen in the contract's order, none twice.
    const order = outcome.stages.map((stage) => BUILD_STAGES.indexOf(stage as never));
    expect(order).toEqual([...order].sort((a, b) => a - b));
  }, 180_000);

  it.concurrent("IMAGE_PULL: local images without a registry, and the contract's message", async () => {
    const pullErrors: string[] = [];
    const onPullError = (error: Error) => pullErrors.push(error.message);
    await ensureImage(docker, OPKG.image, { policy: "always", onPullError });
    expect(pullErrors).toHaveLength(1); // the pull failed, the local image was used
    await ensureImage(docker, OPKG.image, { policy: "missing", onPullError });
    await ensureImage(docker, OPKG.image, { policy: "never", onPullError });
    expect(pullErrors).toHaveLength(1);
    const message = `Error: Image not found: ${MISSING_IMAGE}. If this version was just released, please try again in a few hours as it may take some time to become fully available.`;
    for (const policy of ["always", "missing", "never"] as const) {
      await expect(ensureImage(docker, MISSING_IMAGE, { policy })).rejects.toThrow(message);
    }
    const outcome = await build0(
      jobData(OPKG, { packages: ["htop", "curl"] }, { image: MISSING_IMAGE }),
    );
    expect(outcome.answer.body.detail).toBe(message);
    expect(outcome.answer.body.failure_kind).toBe("infrastructure");
    expect(outcome.stages.at(-1)).toBe("failed");
    expect(outcome.stages).not.toContain("validate_revision");
  });

  it.concurrent("JOB_TIMEOUT stops a slow build and removes its container", async () => {
    const slow = await newWorker({ JOB_TIMEOUT: "2" });
    const data = jobData(OPKG, { packages: ["slowpackage"] });
    const outcome = await build(slow.queue, data);
    // The manifest step sleeps past the limit: a build cut short never reaches the image step.
    expect(outcome.stages).not.toContain("building_image");
    expect(outcome.answer.body.detail).toBe("Error: Build exceeded the time limit of 2 seconds");
    expect(outcome.answer.body.failure_kind).toBe("infrastructure");
    expect(await containersGone(docker, `${WORKER_LABEL}=${slow.worker.id}`)).toEqual([]);
    expect(await readErrorLog(slow.redis)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d 24\\.10\\.0:ath79/generic:${ARCHER} \\[infrastructure\\] Error: Build exceeded the time limit of 2 seconds$`,
        ),
      ),
    ]);
  });

  it.concurrent("CACHE_URL rewrites the ImageBuilder's feeds; BUILD_KEY signs images", async ({
    onTestFinished,
  }) => {
    const keyDir = await mkdtemp(join(tmpdir(), "asu-build-key-"));
    await writeFile(join(keyDir, "key-build"), "untrusted comment: test secret\nSECRETKEY\n");
    await writeFile(join(keyDir, "key-build.ucert"), "CERTIFICATE\n");
    // A cache that answers: the worker checks before it rewrites.
    const cache = await serveApp({ fetch: () => new Response(null, { status: 404 }) });
    onTestFinished(() => cache.close());
    const options = await newWorker({
      CACHE_URL: cache.url,
      BUILD_KEY: join(keyDir, "key-build"),
      IMAGE_PULL: "missing",
    });
    const data = jobData(OPKG, { packages: ["htop"] }, { image: SIGNING_IMAGE });
    const outcome = await build(options.queue, data);
    const body = buildBody(outcome);
    const images = body.images as Record<string, string>[];
    for (const image of images) {
      const bytes = await storeFile(data, image.name as string);
      expect(sha256(bytes), image.name).toBe(image.sha256);
      const text = bytes.toString("utf8");
      if (image.type === "kernel") {
        expect(text).not.toContain("signature by");
        expect(image.sha256).toBe(image.sha256_unsigned);
        continue;
      }
      // image, then the certificate with the usign signature of the image appended
      const trailer = /CERTIFICATE\nsignature by SECRETKEY of ([0-9a-f]{64})\n$/.exec(text);
      expect(trailer, image.name).not.toBeNull();
      const signedPart = bytes.subarray(0, bytes.length - (trailer?.[0].length ?? 0));
      expect(sha256(signedPart)).toBe(trailer?.[1]);
    }
    const stored = await readdir(join(publicPath, "store", data.requestHash));
    expect(stored.filter((name) => name.startsWith("key-build"))).toEqual([]);
    const sysupgrade = images.find((image) => image.type === "sysupgrade");
    const content = (await storeFile(data, sysupgrade?.name as string)).toString("utf8");
    expect(content).toContain(
      `src/gz openwrt_core ${cache.url}/downloads.openwrt.org/releases/24.10.0/targets/ath79/generic/packages\n`,
    );
    expect(content).not.toContain("https://");
  });

  it.concurrent("a CACHE_URL that does not answer leaves the direct URLs", async () => {
    const gone = await serveApp({ fetch: () => new Response(null) });
    await gone.close();
    const options = await newWorker({ CACHE_URL: gone.url });
    // A request of its own: the store is shared with the tests running alongside.
    const data = jobData(OPKG, { packages: ["luci-app-firewall"] });
    const body = buildBody(await build(options.queue, data));
    const sysupgrade = (body.images as Record<string, string>[]).find(
      (image) => image.type === "sysupgrade",
    );
    const content = (await storeFile(data, sysupgrade?.name as string)).toString("utf8");
    expect(content).toContain(
      "src/gz openwrt_core https://downloads.openwrt.org/releases/24.10.0/targets/ath79/generic/packages\n",
    );
    expect(content).not.toContain(gone.url);
    expect(options.logs.join("")).toContain("package cache unreachable");
  });

  it.concurrent("close() lets a running build finish", async ({ expect }) => {
    const stopping = await newWorker({ WORKER_SHUTDOWN_GRACE: "60" });
    const data = jobData(OPKG, { packages: ["slowpackage", "curl"] });
    await stopping.queue.enqueue(data);
    await expect
      .poll(async () => (await stopping.queue.snapshot(data.requestHash))?.state, {
        timeout: 30_000,
      })
      .toBe("active");
    await stopping.worker.close();
    const snapshot = await stopping.queue.snapshot(data.requestHash);
    expect(snapshot?.state).toBe("completed");
    expect(await containersOf(stopping.worker.id)).toEqual([]);
    expect((await readWorkers(stopping.redis)).map((worker) => worker.id)).not.toContain(
      stopping.worker.id,
    );
  });

  it.concurrent("SIGTERM past the grace period hands the build back (worker as a process)", async ({
    expect,
  }) => {
    const server = await newRedis();
    const redis = server.client();
    const queue = createBuildQueue({ connection: redis });
    const data = jobData(OPKG, { packages: ["slowpackage", "htop"] });
    let output = "";
    const child: ChildProcess = spawn(process.execPath, [WORKER_MAIN], {
      env: {
        ...process.env,
        REDIS_URL: server.url,
        PUBLIC_PATH: publicPath,
        CONTAINER_SOCKET_PATH: podman.socketPath,
        IMAGE_PULL: "never",
        WORKER_SHUTDOWN_GRACE: "1",
        LOG_LEVEL: "info",
        ASU_CONFIG: "",
        ALLOW_UNGUARDED_BUILD_NETWORK: "1",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (chunk) => {
      output += String(chunk);
    });
    child.stderr?.on("data", (chunk) => {
      output += String(chunk);
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    try {
      await queue.enqueue(data);
      const busy = await vi.waitFor(
        async () => {
          const found = (await readWorkers(redis)).find((status) => status.state === "busy");
          expect(found).toBeDefined();
          return found as WorkerStatus;
        },
        { timeout: 30_000, interval: 50 },
      );
      const workerId = busy.id;
      expect(busy.active).toEqual([data.requestHash]);
      await expect
        .poll(
          async () =>
            ((await queue.snapshot(data.requestHash))?.progress as Partial<BuildProgress>)
              ?.imagebuilder_status,
          { timeout: 30_000 },
        )
        .toBe("validate_manifest");
      // The build's container (a warm one for the next build may be there too).
      const building = (await containersOf(workerId)).filter(
        (info) => info.Labels?.[BUILD_LABEL] === data.requestHash,
      );
      expect(building).toHaveLength(1);
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      const snapshot = await queue.snapshot(data.requestHash);
      expect(snapshot?.state).toBe("waiting");
      expect(await containersOf(workerId)).toEqual([]);
      expect((await readWorkers(redis)).map((worker) => worker.id)).not.toContain(workerId);
      const logLines = output
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line));
      expect(logLines.map((line) => line.msg)).toContain(
        "worker stopping: build handed back to the queue",
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}\nworker output:\n${output}`);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      await queue.close();
    }
  }, 60_000);

  it.concurrent("a worker removes its leftover containers at start and checks its network", async () => {
    const server = await newRedis();
    const id = `worker-test-${randomBytes(4).toString("hex")}`;
    const foreign = `worker-test-foreign-${randomBytes(4).toString("hex")}`;
    workerIds.push(id);
    const leftover = async (workerId: string) => {
      const container = await docker.createContainer({
        Image: OPKG.image,
        Cmd: ["sleep", "60"],
        Labels: { [BUILD_LABEL]: "d".repeat(64), [WORKER_LABEL]: workerId },
      });
      await container.start();
      return container;
    };
    const [ours, theirs] = await Promise.all([leftover(id), leftover(foreign)]);
    try {
      const config = workerConfig(server.url, publicPath, podman.socketPath);
      await expect(
        startWorker({ config: { ...config, container_network: "asu-no-such-net" }, workerId: id }),
      ).rejects.toThrow('Container network "asu-no-such-net" does not exist');
      const worker = await startWorker({ config, workerId: id });
      workers.push(worker);
      expect(await containersOf(id)).toEqual([]);
      // Another worker's young container may still be building.
      expect((await containersOf(foreign)).map((info) => info.Id)).toEqual([theirs.id]);
      await worker.close();
    } finally {
      await Promise.all([ours, theirs].map((c) => c.remove({ force: true }).catch(() => {})));
    }
  });

  it.concurrent("a build takes the container its image's last builds readied; each serves one build", async ({
    expect,
  }) => {
    const own = await newWorker();
    const warm = async () =>
      (await containersOf(own.worker.id))
        .filter((info) => info.Labels?.[BUILD_LABEL] === WARM_BUILD && info.State === "running")
        .map((info) => info.Id);
    // The image's first build readies nothing; once it is built again, the next build's container.
    const first = await build(own.queue, jobData(OPKG, { packages: ["luci", "nano"] }));
    expect(first.state).toBe("completed");
    expect(await warm()).toEqual([]);
    const again = await build(own.queue, jobData(OPKG, { packages: ["luci", "tcpdump"] }));
    expect(again.state).toBe("completed");
    await expect.poll(warm, { timeout: 60_000 }).toHaveLength(1);
    const [readied] = await warm();

    const second = await build(own.queue, jobData(OPKG, { packages: ["luci", "htop"] }));
    expect(second.state).toBe("completed");
    expect(buildBody(second).manifest).toHaveProperty("htop");
    // Taken by the second build and gone with it; the next build gets a new one.
    await expect
      .poll(warm, { timeout: 60_000 })
      .toEqual([expect.not.stringMatching(readied as string)]);
    expect(
      (await containersOf(own.worker.id)).filter(
        (info) => info.Labels?.[BUILD_LABEL] !== WARM_BUILD,
      ),
    ).toEqual([]);
    await own.worker.close();
    expect(await containersOf(own.worker.id)).toEqual([]);
  }, 180_000);

  it("leaves no build container and no staging folder behind", async () => {
    // A running worker holds warm containers for its next builds; a closed one nothing.
    for (const worker of workers) await worker.close();
    const ours = await docker.listContainers({ all: true, filters: { label: [BUILD_LABEL] } });
    const mine = ours.filter((info) => workerIds.includes(info.Labels?.[WORKER_LABEL] ?? ""));
    expect(mine).toEqual([]);
    // Builds are copied into a staging folder next to the store, then renamed in.
    const store = await readdir(join(publicPath, "store"));
    expect(store.filter((name) => name.startsWith("."))).toEqual([]);
    expect(store.length).toBeGreaterThan(10);
  });
});
