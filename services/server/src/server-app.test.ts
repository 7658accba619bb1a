import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { type BuildTier, createBuildTier } from "@asu/build-tier";
import { loadConfig } from "@asu/config";
import { createLogger } from "@asu/observability";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectListNeverServed } from "../../../test/support/completed-spellings.ts";
import { type FakeUpstream, startFakeUpstream } from "../../../test/support/fake-upstream.ts";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.ts";
import { type ServedApp, serveApp } from "../../../test/support/serve-app.ts";
import { createServerApp, type ServerApp } from "./server-app.ts";

let redisServer: RedisServer;
let upstream: FakeUpstream;
let served: ServedApp;
let publicPath: string;
let tier: BuildTier | undefined;
let app: ServerApp | undefined;

const quiet = () =>
  createLogger({ service: "t", destination: new Writable({ write: (_c, _e, done) => done() }) });

beforeAll(async () => {
  redisServer = await startRedisServer();
  upstream = await startFakeUpstream();
  publicPath = await mkdtemp(join(tmpdir(), "asu-server-app-"));
  const config = loadConfig({
    env: { REDIS_URL: redisServer.url, UPSTREAM_URL: upstream.url, PUBLIC_PATH: publicPath },
    tomlPath: "",
  });
  tier = createBuildTier({ config, logger: quiet() });
  const { redis } = tier;
  await new Promise((resolve) => redis.once("ready", resolve));
  app = createServerApp({
    build: tier,
    settings: config,
    logger: quiet(),
  });
  served = await serveApp(app);
});

afterAll(async () => {
  await app?.close();
  await served?.close();
  await tier?.close();
  await redisServer?.stop();
  await upstream?.close();
  if (publicPath) await rm(publicPath, { recursive: true, force: true });
});

const archer = {
  version: "24.10.0",
  target: "ath79/generic",
  profile: "tplink,archer-c7-v5",
  packages: ["luci", "auc"],
};

function post(path: string, body: unknown) {
  return fetch(`${served.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

describe("createServerApp on the composed build tier", () => {
  it("answers prepare from the prepare tier, asking the build tier in-process", async () => {
    const res = await post("/api/v1/build/prepare?client=test", {
      ...archer,
      from_version: "23.05.0",
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("x-request-id")).toBeTruthy();
    const body = (await res.json()) as any;
    expect(body).toMatchObject({ status: "prepared", resolved_packages: ["luci", "owut"] });
    expect(body.cache_available).toBe(false);
  });

  it("sends every other path to the build tier", async () => {
    const queued = await post("/api/v1/build", archer);
    expect(queued.status).toBe(202);
    const { request_hash: hash } = (await queued.json()) as any;
    const status = await fetch(`${served.url}/api/v1/build/${hash}`);
    expect(status.status).toBe(202);
    expect(status.headers.get("x-imagebuilder-status")).toBeTruthy();
    const health = (await (await fetch(`${served.url}/health`)).json()) as any;
    expect(health).toMatchObject({ status: "ok", redis: "ok" });
  });

  it("splits by path as the Caddyfile does for the microservices stack", async () => {
    // Other methods on the prepare path belong to the prepare tier too.
    const get = await fetch(`${served.url}/api/v1/build/prepare`);
    expect(get.status).toBe(404);
    expect(await get.json()).toEqual({ detail: "Not Found" });
    const preflight = await fetch(`${served.url}/api/v1/build/prepare`, {
      method: "OPTIONS",
      headers: { origin: "https://example.org", "access-control-request-method": "POST" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
    // A path that only starts like it is the build tier's: POST on a request hash.
    const longer = await post("/api/v1/build/prepared", archer);
    expect(longer.status).toBe(405);
    expect(longer.headers.get("allow")).toBe("GET, HEAD, OPTIONS");
    // With a trailing slash it is still the prepare tier's, which has no such route.
    const slash = await post("/api/v1/build/prepare/", archer);
    expect(slash.status).toBe(404);
    expect(await slash.json()).toEqual({ detail: "Not Found" });
  });

  it("serves no list of finished builds on its port, however its path is spelt", async () => {
    const listed = "b".repeat(64);
    await tier?.redis.zadd(tier.queue.queue.keys.completed as string, Date.now(), listed);
    await expectListNeverServed(served.url, listed);
  });

  it("lists both tiers' routes in one OpenAPI document", async () => {
    const doc = (await (await fetch(`${served.url}/openapi.json`)).json()) as any;
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/api/v1/build/prepare",
        "/api/v1/build",
        "/store/{request_hash}/{file}",
      ]),
    );
    expect(doc.paths["/api/v1/build/prepare"].post.summary).toBe(
      "Show which package changes a build would make",
    );
  });
});
