import { type ApiApp, undocumentedRoutes } from "@asu/http";
import { DEFAULT_BRANCHES } from "@asu/openwrt-releases";
import { createBuildQueue } from "@asu/queue";
import { createStatsRecorder } from "@asu/stats";
import { createLocalStore } from "@asu/store";
import { createMetadataClient, createOpenwrtCatalog } from "@asu/upstream";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ARCHER, BUILD_ROUTE_SETTINGS } from "../../../test/support/build-route-stand.ts";
import { type FakeUpstream, startFakeUpstream } from "../../../test/support/fake-upstream.ts";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.ts";
import { type ServedApp, serveApp } from "../../../test/support/serve-app.ts";
import { silentLogger } from "../../../test/support/silent-logger.ts";
import { ALLOWED_METHODS, createBuildApp } from "./build-app.ts";

let upstream: FakeUpstream;

interface Tier {
  redisServer: RedisServer;
  redis: Redis;
  app: ApiApp;
  served: ServedApp;
  close(): Promise<void>;
}

/** A build tier over its own redis-server, so a test may take that Redis away. */
async function startTier(): Promise<Tier> {
  const redisServer = await startRedisServer();
  const redis = new Redis(redisServer.url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    commandTimeout: 2000,
  });
  redis.on("error", () => {});
  await new Promise((resolve) => redis.once("ready", resolve));
  const client = createMetadataClient({ upstreamUrl: upstream.url });
  const app = createBuildApp({
    catalog: createOpenwrtCatalog({ client, branches: DEFAULT_BRANCHES }),
    client,
    queue: createBuildQueue({ connection: redis }),
    redis,
    store: createLocalStore("/nonexistent"),
    settings: {
      ...BUILD_ROUTE_SETTINGS,
      build_ttl: 1,
      build_ttl_unversioned: 1,
      build_defaults_ttl: 1,
      build_failure_ttl: 1,
      upstream_url: upstream.url,
    },
    logger: silentLogger("t"),
    stats: createStatsRecorder(redis, { enabled: false }),
  });
  const served = await serveApp(app);
  return {
    redisServer,
    redis,
    app,
    served,
    async close() {
      await served.close();
      redis.disconnect();
      await redisServer.stop().catch(() => {});
    },
  };
}

let tier: Tier;
let served: ServedApp;
let app: ApiApp;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  tier = await startTier();
  ({ served, app } = tier);
});

afterAll(async () => {
  await tier?.close();
  await upstream?.close();
});

describe("createBuildApp", () => {
  it("reports health with queue counts", async () => {
    const res = await fetch(`${served.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      status: "ok",
      redis: "ok",
      queue: { waiting: 0 },
      workers: { online: 0, busy: 0 },
    });
  });

  it("answers a wrong method with 405", async () => {
    const res = await fetch(`${served.url}/api/v1/build`, { method: "GET" });
    expect(res.status).toBe(405);
    expect(await res.json()).toEqual({ detail: "Method Not Allowed" });
    const put = await fetch(`${served.url}/api/v1/build/${"a".repeat(64)}`, { method: "PUT" });
    expect(put.status).toBe(405);
  });

  it("documents every build route in the OpenAPI document", async () => {
    const doc = (await (await fetch(`${served.url}/openapi.json`)).json()) as any;
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/api/v1/build",
        "/api/v1/build/{request_hash}",
        "/api/v1/stats",
        "/api/v1/revision/{version}/{target}/{subtarget}",
        "/json/v1/overview.json",
        "/json/v1/{path}/targets/{target}/{subtarget}/index.json",
        "/json/v1/{path}/targets/{target}/{subtarget}/{profile}.json",
        "/json/v1/{path}/packages/{arch}-index.json",
        "/store/{request_hash}/{file}",
        "/health",
      ]),
    );
    const build = doc.paths["/api/v1/build"].post;
    expect(build.requestBody.content["application/json"].schema).toBeDefined();
    expect(build.parameters.map((p: any) => p.name)).toEqual(["skip_package_resolution"]);
    expect(build.responses["200"].content["application/json"].schema).toBeDefined();
    const store = doc.paths["/store/{request_hash}/{file}"].get;
    expect(store.parameters.map((p: any) => p.name)).toEqual(["request_hash", "file"]);
  });

  it("documents every route it mounts, apart from the pages", () => {
    expect(
      undocumentedRoutes(app, {
        notApi: ["/", "/build", "/stats", "/static/:name"],
        allowedMethods: ALLOWED_METHODS,
      }),
    ).toEqual([]);
  });

  it("answers 503 quickly, not 500 or a hang, when Redis is gone", async () => {
    const doomed = await startTier();
    try {
      const { served, redis } = doomed;
      await doomed.redisServer.stop();
      await expect.poll(() => redis.status).not.toBe("ready");
      const started = Date.now();
      const post = await fetch(`${served.url}/api/v1/build`, {
        method: "POST",
        body: JSON.stringify(ARCHER),
      });
      expect(post.status).toBe(503);
      expect(await post.json()).toEqual({
        status: 503,
        title: "Service Unavailable",
        detail: "Build queue unavailable: cannot reach Redis",
      });
      const poll = await fetch(`${served.url}/api/v1/build/${"a".repeat(64)}`);
      expect(poll.status).toBe(503);
      const health = await fetch(`${served.url}/health`);
      expect(health.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(8000);
    } finally {
      await doomed.close();
    }
  });
});
