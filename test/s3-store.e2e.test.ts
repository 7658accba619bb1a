import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BuildQueue, createBuildQueue } from "@asu/queue";
import { createStoreFromConfig } from "@asu/store";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startJanitor } from "../packages/build-tier/src/janitor.ts";
import {
  type AsuStack,
  ATH79_24_10_DOUBLE,
  postJson,
  startAsuStack,
  waitForBuild,
} from "./support/asu-stack.ts";
import { type S3Server, startS3Server } from "./support/s3-server.ts";
import { silentLogger } from "./support/silent-logger.ts";

/*
 * The scale-out store: a worker that shares nothing with the build tier but
 * Redis and an S3 bucket (its own PUBLIC_PATH, no upstream, no other
 * setting) builds; the build tier redirects `/store/` to the object; expiry
 * deletes the objects.
 */

const BUCKET = "asu-e2e-store";
const BUILD_TTL_SECONDS = 4;
let s3: S3Server;
let stack: AsuStack;
let workerPublicPath: string;
let worker: ChildProcess | undefined;
let workerLog = "";

function s3Env(): Record<string, string> {
  return {
    STORE_BACKEND: "s3",
    S3_ENDPOINT: s3.endpoint,
    S3_ACCESS_KEY: s3.accessKey,
    S3_SECRET_KEY: s3.secretKey,
    S3_BUCKET: BUCKET,
    S3_REGION: s3.region,
  };
}

beforeAll(async () => {
  s3 = await startS3Server();
  await s3.createBucket(BUCKET);
  stack = await startAsuStack({
    baseContainer: "localhost/asu-e2e-s3/imagebuilder",
    images: [ATH79_24_10_DOUBLE],
    env: { ...s3Env(), BUILD_TTL_UNVERSIONED: String(BUILD_TTL_SECONDS) },
  });

  workerPublicPath = await mkdtemp(join(tmpdir(), "asu-e2e-s3-worker-"));
  const main = fileURLToPath(new URL("../services/worker/src/main.ts", import.meta.url));
  worker = spawn(process.execPath, [main], {
    env: {
      PATH: process.env.PATH ?? "",
      REDIS_URL: stack.redis.url,
      CONTAINER_SOCKET_PATH: stack.podman.socketPath,
      PUBLIC_PATH: workerPublicPath,
      ALLOW_UNGUARDED_BUILD_NETWORK: "1",
      ...s3Env(),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const keep = (chunk: Buffer) => {
    workerLog = (workerLog + chunk.toString()).slice(-20_000);
  };
  worker.stdout?.on("data", keep);
  worker.stderr?.on("data", keep);
}, 300_000);

afterAll(async () => {
  if (worker && worker.exitCode === null) {
    const exited = new Promise((resolve) => worker?.once("exit", resolve));
    worker.kill("SIGTERM");
    await exited;
  }
  await stack?.stop();
  await s3?.stop();
  if (workerPublicPath) await rm(workerPublicPath, { recursive: true, force: true });
}, 120_000);

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isFile()).map((entry) => entry.name);
}

describe("STORE_BACKEND=s3", () => {
  // One build's life, in order: each step needs the one before.
  it("a worker with only Redis, S3 and its Podman socket builds into the bucket, the build tier redirects to the objects, and expiry removes them", async () => {
    const queued = await postJson(`${stack.buildUrl}/api/v1/build`, {
      version: "24.10.0",
      target: "ath79/generic",
      profile: "tplink,archer-c7-v5",
      packages: ["luci"],
    });
    expect(queued.status).toBe(202);
    const hash: string = queued.body.request_hash;

    const done = await waitForBuild(stack.buildUrl, hash).catch((error: Error) => {
      throw new Error(`${error.message}\nworker log:\n${workerLog}`);
    });
    expect(done.status, workerLog).toBe(200);
    expect(done.body.bin_dir).toBe(hash);
    const images: { name: string; sha256: string }[] = done.body.images;
    expect(images.length).toBeGreaterThan(0);

    const keys = await s3.listKeys(BUCKET, `store/${hash}/`);
    for (const image of images) expect(keys).toContain(`store/${hash}/${image.name}`);
    expect(keys).toContain(`store/${hash}/profiles.json`);
    // Nothing of the build stays on either machine's disk.
    expect(await filesUnder(workerPublicPath)).toEqual([]);
    expect(await filesUnder(stack.publicPath)).toEqual([]);

    // The build tier's /store/ redirects to the object, whose bytes match the result.
    for (const image of images) {
      const res = await fetch(`${stack.buildUrl}/store/${hash}/${image.name}`, {
        redirect: "manual",
      });
      expect(res.status).toBe(302);
      const location = new URL(res.headers.get("location") ?? "");
      expect(location.origin).toBe(s3.endpoint);
      expect(location.pathname).toBe(`/${BUCKET}/store/${hash}/${image.name}`);
      expect(location.searchParams.has("X-Amz-Signature")).toBe(true);

      // What a client does: follow the redirect and check image.sha256.
      const download = await fetch(`${stack.buildUrl}/store/${hash}/${image.name}`);
      expect(download.status).toBe(200);
      expect(download.headers.get("content-type")).toBe("application/octet-stream");
      const bytes = Buffer.from(await download.arrayBuffer());
      expect(createHash("sha256").update(bytes).digest("hex")).toBe(image.sha256);
    }

    // Expiry removes the objects.
    const redis = new Redis(stack.redis.url, { maxRetriesPerRequest: 1 });
    const queue: BuildQueue = createBuildQueue({ connection: redis });
    const janitor = startJanitor({
      redis,
      queue,
      store: createStoreFromConfig(stack.config),
      failureTtlSeconds: 3600,
      intervalMs: 3_600_000,
      logger: silentLogger("janitor"),
    });
    try {
      // The janitor's sweep, run until the build's time is up and it goes.
      await vi.waitFor(async () => expect(await janitor.runOnce()).toContain(hash), {
        timeout: (BUILD_TTL_SECONDS + 20) * 1000,
        interval: 500,
      });
      expect(await s3.listKeys(BUCKET, `store/${hash}/`)).toEqual([]);
      expect((await fetch(`${stack.buildUrl}/api/v1/build/${hash}`)).status).toBe(404);
      const gone = await fetch(`${stack.buildUrl}/store/${hash}/${images[0]?.name}`);
      expect(gone.status).toBe(404);
      await gone.arrayBuffer();
    } finally {
      janitor.stop();
      await queue.close();
      redis.disconnect();
    }
  }, 240_000);
});
