import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createStatsRecorder } from "@asu/stats";
import { type BuildStore, createLocalStore, createS3Store } from "@asu/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBuildApp } from "../packages/build-tier/src/build-app.ts";
import {
  ARCHER,
  BUILD_ROUTE_SETTINGS,
  type BuildRouteStand,
  startBuildRouteStand,
} from "./support/build-route-stand.ts";
import { type S3Server, startS3Server } from "./support/s3-server.ts";
import { type ServedApp, serveApp } from "./support/serve-app.ts";
import { silentLogger } from "./support/silent-logger.ts";

// A finished build whose files left the store is built again, not answered
// "done" with downloads that 404.

const silent = silentLogger("store-lost-test");

let stand: BuildRouteStand;
let s3: S3Server;
let scratch: string;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  stand = await startBuildRouteStand();
  s3 = await startS3Server();
  await s3.createBucket("lost");
  scratch = await mkdtemp(join(tmpdir(), "asu-store-lost-"));
});

afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  await s3?.stop?.();
  await stand?.stop().catch(() => {});
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

const IMAGE = "openwrt-ath79-generic-tplink_archer-c7-v5-squashfs-sysupgrade.bin";

/** A stack whose worker "builds" by storing one image file and counts its builds. */
async function stackWith(store: BuildStore) {
  // One stack at a time: an earlier test's worker must not take this one's jobs.
  await stand.closeWorkers();
  for (const close of closers.splice(0)) await close().catch(() => {});
  const { redis, queue } = stand;
  await redis.flushdb();
  const { client, catalog } = stand.catalog();
  const served: ServedApp = await serveApp(
    createBuildApp({
      stats: createStatsRecorder(redis, { enabled: false }),
      catalog,
      client,
      queue,
      redis,
      store,
      settings: { ...BUILD_ROUTE_SETTINGS, upstream_url: stand.upstream.url },
      logger: silent,
    }),
  );
  let builds = 0;
  stand.worker(async (job) => {
    builds++;
    const dir = await mkdtemp(join(scratch, "build-"));
    await writeFile(join(dir, IMAGE), `image of build ${builds}`);
    await store.save(job.data.requestHash, dir);
    return { bin_dir: job.data.requestHash, manifest: {}, images: [{ name: IMAGE }] };
  });
  closers.push(() => served.close());
  return { url: served.url, builds: () => builds };
}

async function post(url: string) {
  const res = await fetch(`${url}/api/v1/build`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(ARCHER),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

async function poll(url: string, hash: string) {
  const res = await fetch(`${url}/api/v1/build/${hash}`);
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

async function download(url: string, hash: string) {
  const res = await fetch(`${url}/store/${hash}/${IMAGE}`);
  return { status: res.status, text: await res.text() };
}

async function builtOnce(url: string) {
  const { body } = await post(url);
  const hash: string = body.request_hash;
  await expect.poll(async () => (await poll(url, hash)).status, { timeout: 20_000 }).toBe(200);
  return hash;
}

describe.each([
  {
    backend: "local",
    make: async () => {
      const store = createLocalStore(await mkdtemp(join(scratch, "public-")));
      return { store, lose: (hash: string) => rm(join(store.root, hash), { recursive: true }) };
    },
  },
  {
    backend: "s3",
    make: async () => {
      const options = {
        bucket: "lost",
        endpoint: s3.endpoint,
        accessKeyId: s3.accessKey,
        secretAccessKey: s3.secretKey,
        stagingRoot: await mkdtemp(join(scratch, "staging-")),
      };
      // A lifecycle rule deletes behind the tier's back: another client.
      const lifecycle = createS3Store({ ...options, stagingRoot: scratch });
      return {
        store: createS3Store({ ...options, presenceTtlMs: 500 }),
        lose: (hash: string) => lifecycle.remove(hash),
      };
    },
  },
])("$backend store", ({ make }) => {
  it("a GET of a build whose files are gone re-enqueues it (202), and it is built again", async () => {
    const { store, lose } = await make();
    const stack = await stackWith(store);
    const hash = await builtOnce(stack.url);
    expect(await download(stack.url, hash)).toMatchObject({ status: 200 });
    // Answered once more from the tier's memory of finished builds.
    expect((await poll(stack.url, hash)).status).toBe(200);

    await lose(hash);
    await expect
      .poll(async () => (await poll(stack.url, hash)).status, { timeout: 10_000 })
      .toBe(202);
    await expect
      .poll(async () => (await poll(stack.url, hash)).status, { timeout: 20_000 })
      .toBe(200);
    expect(stack.builds()).toBe(2);
    expect(await download(stack.url, hash)).toEqual({ status: 200, text: "image of build 2" });
  }, 60_000);

  it("a POST of a build whose files are gone builds it again", async () => {
    const { store, lose } = await make();
    const stack = await stackWith(store);
    const hash = await builtOnce(stack.url);
    await lose(hash);
    await expect.poll(async () => (await post(stack.url)).status, { timeout: 10_000 }).toBe(202);
    await expect.poll(async () => (await post(stack.url)).status, { timeout: 20_000 }).toBe(200);
    expect(stack.builds()).toBe(2);
    expect(await download(stack.url, hash)).toEqual({ status: 200, text: "image of build 2" });
  }, 60_000);
});

describe("a store that cannot take new builds", () => {
  it("is reported by /health with its reason", async () => {
    const full = createLocalStore(await mkdtemp(join(scratch, "full-")), {
      minFreeBytes: Number.MAX_SAFE_INTEGER,
    });
    const stack = await stackWith(full);
    const res = await fetch(`${stack.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      status: "degraded",
      redis: "ok",
      store: "full",
      store_detail: expect.stringMatching(/^the build store is full/),
    });
    const fine = await stackWith(createLocalStore(await mkdtemp(join(scratch, "fine-"))));
    expect(await (await fetch(`${fine.url}/health`)).json()).toMatchObject({
      status: "ok",
      store: "ok",
    });
  });
});
