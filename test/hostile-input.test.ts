import { REQUEST_BOUNDS } from "@asu/contract";
import { DEFAULT_BRANCHES } from "@asu/openwrt-releases";
import { BUILD_QUEUE, createBuildQueue, KEY_PREFIX } from "@asu/queue";
import { createStatsRecorder } from "@asu/stats";
import { createLocalStore } from "@asu/store";
import { createMetadataClient, createOpenwrtCatalog } from "@asu/upstream";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBuildApp } from "../packages/build-tier/src/build-app.ts";
import { createBuildCacheProbe } from "../packages/prepare-tier/src/build-cache-probe.ts";
import { createPrepareApp } from "../packages/prepare-tier/src/prepare-app.ts";
import { type FakeUpstream, startFakeUpstream } from "./support/fake-upstream.ts";
import { type RedisServer, startRedisServer } from "./support/redis-server.ts";
import { type ServedApp, serveApp } from "./support/serve-app.ts";
import { silentLogger } from "./support/silent-logger.ts";

// Hostile bodies get a clear 4xx from both tiers, never a 500 or a job.

const silent = silentLogger("hostile-test");

let redisServer: RedisServer;
let redis: Redis;
let upstream: FakeUpstream;
let build: ServedApp;
let prepare: ServedApp;

const MAX_PENDING_JOBS = 50;

const settings = {
  allow_defaults: false,
  repository_allow_list: ["https://feed.example.org/"],
  max_custom_rootfs_size_mb: 1024,
  max_defaults_length: 20480,
};

beforeAll(async () => {
  redisServer = await startRedisServer();
  redis = redisServer.client();
  upstream = await startFakeUpstream();
  const client = createMetadataClient({ upstreamUrl: upstream.url });
  const catalog = createOpenwrtCatalog({ client, branches: DEFAULT_BRANCHES });
  build = await serveApp(
    createBuildApp({
      stats: createStatsRecorder(redis, { enabled: false }),
      catalog,
      client,
      queue: createBuildQueue({ connection: redis }),
      redis,
      store: createLocalStore("/nonexistent"),
      settings: {
        ...settings,
        build_ttl: 60,
        build_ttl_unversioned: 60,
        build_defaults_ttl: 60,
        build_failure_ttl: 60,
        base_container: "ghcr.io/openwrt/imagebuilder",
        max_pending_jobs: MAX_PENDING_JOBS,
        upstream_url: upstream.url,
      },
      logger: silent,
    }),
  );
  prepare = await serveApp(
    createPrepareApp({
      catalog,
      settings,
      isBuilt: createBuildCacheProbe({ buildApiUrl: build.url, timeoutMs: 2000 }),
      logger: silent,
    }),
  );
});

afterAll(async () => {
  await prepare?.close();
  await build?.close();
  redis?.disconnect();
  await upstream?.close();
  await redisServer?.stop().catch(() => {});
});

const archer = {
  version: "24.10.0",
  target: "ath79/generic",
  profile: "tplink_archer-c7-v5",
  packages: ["luci"],
};

const tiers = [
  { tier: "build", path: "/api/v1/build", url: () => build.url },
  { tier: "prepare", path: "/api/v1/build/prepare", url: () => prepare.url },
];

async function post(base: string, path: string, body: unknown) {
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const jobExists = async (hash: string | undefined) =>
  (await redis.exists(`${KEY_PREFIX}:${BUILD_QUEUE}:${hash}`)) === 1;

describe.each(tiers)("$tier tier", ({ path, url }) => {
  it("answers deeply nested JSON with 422", async () => {
    for (const field of ["packages", "client", "unknown_field", "repositories"]) {
      const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
      const body = JSON.stringify(archer).replace(/}$/, `, "${field}": ${deep}}`);
      const answer = await post(url(), path, body);
      expect(answer.status).toBe(422);
      expect(JSON.stringify(answer.body)).toContain("nested deeper than");
    }
  });

  it("caps the package count and the size of the package names with 422", async () => {
    const many = Array.from({ length: 100_000 }, (_, i) => `p${i}`);
    const tooMany = await post(url(), path, { ...archer, packages: many });
    expect(tooMany.status).toBe(422);
    expect(tooMany.body.detail).toMatchObject([
      {
        type: "too_long",
        loc: ["body", "packages"],
        msg: `List should have at most ${REQUEST_BOUNDS.maxPackages} items after validation, not 100000`,
      },
    ]);
    const pinned = Object.fromEntries(many.slice(0, 5000).map((name) => [name, "1.0"]));
    const tooManyPins = await post(url(), path, { ...archer, packages_versions: pinned });
    expect(tooManyPins.status).toBe(422);

    const long = Array.from({ length: 200 }, (_, i) => `${"x".repeat(200)}${i}`);
    const tooLong = await post(url(), path, { ...archer, packages: long });
    expect(tooLong.status).toBe(422);
    expect(JSON.stringify(tooLong.body)).toContain("bytes, more than the");
  });

  it("refuses a repository key that is neither usign nor PEM with 400 at once", async () => {
    for (const key of ["x", "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----"]) {
      const answer = await post(url(), path, { ...archer, repository_keys: [key] });
      expect(answer.status).toBe(400);
      expect(answer.body.detail).toMatch(/^Invalid repository key 1: /);
    }
  });

  it("validates __proto__ keys like any other", async () => {
    const bad = await post(
      url(),
      path,
      '{"version":"24.10.0","target":"ath79/generic","profile":"tplink_archer-c7-v5","repositories":{"__proto__":"not a url"}}',
    );
    expect(bad.status).toBe(422);
    expect(bad.body.detail).toMatchObject([{ loc: ["body", "repositories", "__proto__"] }]);
    const refused = await post(
      url(),
      path,
      '{"version":"24.10.0","target":"ath79/generic","profile":"tplink_archer-c7-v5","repositories":{"__proto__":"https://evil.example.com/"}}',
    );
    expect(refused).toMatchObject({
      status: 400,
      body: { detail: "Repository not allowed: https://evil.example.com/" },
    });
  });
});

describe("MAX_PENDING_JOBS", () => {
  // Three times the bound at once is race enough; every request is a whole POST.
  const asked = 3 * MAX_PENDING_JOBS;
  it(`admits at most ${MAX_PENDING_JOBS} of ${asked} quick concurrent distinct requests`, async () => {
    await redis.flushdb();
    const answers = await Promise.all(
      Array.from({ length: asked }, (_, i) =>
        post(build.url, "/api/v1/build", { ...archer, rootfs_size_mb: i + 1 }),
      ),
    );
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 202)).toHaveLength(MAX_PENDING_JOBS);
    expect(statuses.filter((status) => status === 529)).toHaveLength(asked - MAX_PENDING_JOBS);
    const counts = await fetch(`${build.url}/api/v1/stats`).then((res) => res.json());
    expect(counts).toEqual({ queue_length: MAX_PENDING_JOBS, popular_requests: [] });
    await redis.flushdb();
  });
});

describe("client key order", () => {
  it("prepare echoes the order the build tier hashes, integer-like keys included", async () => {
    const body =
      '{"version":"24.10.0","target":"ath79/generic","profile":"tplink_archer-c7-v5","packages":["luci"],' +
      '"repositories":{"b":"https://feed.example.org/b","10":"https://feed.example.org/10","__proto__":"https://feed.example.org/p"}}';
    const prepared = await fetch(`${prepare.url}/api/v1/build/prepare`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    expect(prepared.status).toBe(200);
    const text = await prepared.text();
    expect(text).toContain(
      '"repositories":{"b":"https://feed.example.org/b","10":"https://feed.example.org/10","__proto__":"https://feed.example.org/p"}',
    );
    const preparedRequest = text.slice(
      text.indexOf('"prepared_request":') + '"prepared_request":'.length,
      text.indexOf(',"request_hash"'),
    );
    const hash = /"request_hash":"([0-9a-f]{64})"/.exec(text)?.[1];

    expect(await jobExists(hash)).toBe(false);
    const queued = await fetch(`${build.url}/api/v1/build?skip_package_resolution=true`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: preparedRequest,
    });
    const answer = await queued.text();
    expect(queued.status).toBe(202);
    expect(answer).toContain(`"request_hash":"${hash}"`);
    expect(answer).toContain(
      '"repositories":{"b":"https://feed.example.org/b","10":"https://feed.example.org/10","__proto__":"https://feed.example.org/p"}',
    );
    expect(await jobExists(hash)).toBe(true);
  });
});
