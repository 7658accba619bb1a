import { DEFAULT_BRANCHES } from "@asu/openwrt-releases";
import { createLiveStatus, registerPages } from "@asu/pages";
import { createBuildQueue, type WorkerStatus, writeWorkerStatus } from "@asu/queue";
import { createStatsRecorder } from "@asu/stats";
import { createLocalStore } from "@asu/store";
import { createMetadataClient, createOpenwrtCatalog } from "@asu/upstream";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type FakeUpstream,
  FIXTURE_REVISION_24_10,
  startFakeUpstream,
} from "../../../test/support/fake-upstream.ts";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.ts";
import { type ServedApp, serveApp } from "../../../test/support/serve-app.ts";
import { silentLogger } from "../../../test/support/silent-logger.ts";
import { createBuildApp } from "./build-app.ts";

let redisServer: RedisServer;
let upstream: FakeUpstream;
let served: ServedApp;
let redis: Redis;
let queue: ReturnType<typeof createBuildQueue>;

const settings = {
  allow_defaults: true,
  repository_allow_list: ["https://feed.example.org/<odd>"],
  max_custom_rootfs_size_mb: 512,
  max_defaults_length: 4096,
  build_ttl: 1,
  build_ttl_unversioned: 1,
  build_defaults_ttl: 1,
  build_failure_ttl: 1,
  base_container: "ghcr.io/openwrt/imagebuilder",
  max_pending_jobs: 10,
  server_contact: "ops <ops@example.org>",
  prepare_api_url: "https://prepare.example.org/",
};

beforeAll(async () => {
  redisServer = await startRedisServer();
  upstream = await startFakeUpstream();
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  redis.on("error", () => {});
  await new Promise((resolve) => redis.once("ready", resolve));
  // A worker's heartbeat, written before the first page view reads the workers.
  await writeWorkerStatus(redis, {
    id: "w1",
    state: "busy",
    active: ["abc"],
    concurrency: 1,
  } as WorkerStatus);
  const client = createMetadataClient({ upstreamUrl: upstream.url });
  const catalog = createOpenwrtCatalog({ client, branches: DEFAULT_BRANCHES });
  queue = createBuildQueue({ connection: redis });
  const deps = {
    catalog,
    client,
    queue,
    redis,
    store: Object.assign(createLocalStore("/nonexistent"), { root: "/nonexistent" }),
    settings: { ...settings, upstream_url: upstream.url },
    logger: silentLogger("t"),
    stats: createStatsRecorder(redis, { enabled: false }),
  };
  const app = createBuildApp(deps);
  registerPages(app, deps);
  served = await serveApp(app);
});

afterAll(async () => {
  await served?.close();
  await queue?.close();
  redis?.disconnect();
  await upstream?.close();
  await redisServer?.stop().catch(() => {});
});

async function page(path: string) {
  const res = await fetch(`${served.url}${path}`);
  return { res, text: await res.text() };
}

describe("GET /", () => {
  it("lists versions per branch, newest first, with snapshots and latest marked", async () => {
    const { res, text } = await page("/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const versions = [...text.matchAll(/<li><a href="\/build\?version=([^"]+)">/g)].map((match) =>
      decodeURIComponent(match[1]!),
    );
    expect(versions).toEqual([
      "SNAPSHOT",
      "25.12.0-rc1",
      "25.12-SNAPSHOT",
      "24.10.0",
      "24.10-SNAPSHOT",
      "23.05.5",
      "23.05-SNAPSHOT",
      "22.03.7",
      "22.03-SNAPSHOT",
      "21.02-SNAPSHOT",
    ]);
    expect(text).toMatch(/>24\.10\.0<\/a><span class="badge latest">latest<\/span><\/li>/);
    expect(text).toMatch(/>24\.10-SNAPSHOT<\/a><span class="badge snapshot">snapshot<\/span>/);
  });

  it("shows the targets of each branch grouped by family", async () => {
    const { text } = await page("/");
    expect(text).toContain("<summary>3 targets</summary>");
    expect(text).toContain("<li><b>ath79</b> generic</li>");
    expect(text).toContain("<li><b>x86</b> 64</li>");
    expect(text).toContain("Targets not published yet.");
  });

  it("shows the settings, escaped, and the live queue and workers", async () => {
    const { text } = await page("/");
    expect(text).toContain("<dd>allowed</dd>");
    expect(text).toContain("512 MB");
    expect(text).toContain("4096 characters");
    expect(text).toContain("<code>https://feed.example.org/&lt;odd&gt;</code>");
    expect(text).toContain("ops &lt;ops@example.org&gt;");
    expect(text).not.toContain("<odd>");
    expect(text).toContain('<dd data-live="queue">0</dd>');
    expect(text).toContain('<dd data-live="workers">1 (1 building)</dd>');
  });

  it("links the clients, the build and statistics pages and the API docs", async () => {
    const { text } = await page("/");
    for (const href of [
      "https://firmware-selector.openwrt.org",
      "https://openwrt.org/docs/guide-user/installation/attended.sysupgrade",
      "https://openwrt.org/docs/guide-user/installation/sysupgrade.owut",
      "/docs",
      "/stats",
      "/build",
    ]) {
      expect(text).toContain(`href="${href}"`);
    }
    expect(text).toContain('<main id="main">');
    expect(text).toContain('<nav aria-label="Main">');
  });
});

describe("live status", () => {
  it("is undefined, not an error, while Redis cannot be reached", async () => {
    const down = new Redis("redis://127.0.0.1:1", {
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      lazyConnect: true,
    });
    down.on("error", () => {});
    const status = createLiveStatus({ queue: { waitingCount: async () => 0 }, redis: down });
    expect(await status()).toBeUndefined();
    down.disconnect();
  });

  it("reads Redis at most once per interval", async () => {
    let reads = 0;
    const status = createLiveStatus(
      { queue: { waitingCount: async () => ++reads }, redis },
      60_000,
    );
    await Promise.all([status(), status(), status()]);
    expect((await status())?.queueLength).toBe(1);
    expect(reads).toBe(1);
  });
});

describe("device API", () => {
  it("lists the targets of a version, in name order", async () => {
    const res = await fetch(`${served.url}/api/v1/targets/24.10.0`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      version: "24.10.0",
      targets: ["ath79/generic", "mediatek/filogic", "x86/64"],
    });
  });

  it("lists the devices of a target with names and packages", async () => {
    const res = await fetch(`${served.url}/api/v1/profiles/24.10.0/ath79/generic`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body.version_code).toBe(FIXTURE_REVISION_24_10);
    expect(body.default_packages).toContain("base-files");
    const names = body.profiles.map((profile: any) => profile.titles[0]);
    expect(names).toEqual([...names].sort((a, b) => a.localeCompare(b, "en")));
    expect(body.profiles).toContainEqual({
      id: "tplink_archer-c7-v5",
      titles: ["TP-Link Archer C7 v5"],
      supported_devices: ["tplink,archer-c7-v5", "archer-c7-v5"],
      device_packages: [
        "kmod-usb2",
        "kmod-usb-ledtrig-usbport",
        "kmod-ath10k-ct",
        "ath10k-firmware-qca988x-ct",
      ],
    });
  });

  it("refuses unknown versions and targets with the contract's 400", async () => {
    const version = await fetch(`${served.url}/api/v1/targets/9.9.9`);
    expect(version.status).toBe(400);
    expect(await version.json()).toEqual({ detail: "Unsupported version: 9.9.9", status: 400 });
    const target = await fetch(`${served.url}/api/v1/profiles/24.10.0/nope/nope`);
    expect(target.status).toBe(400);
    expect(await target.json()).toEqual({
      detail: "Unsupported target: nope/nope",
      status: 400,
    });
  });

  it("is documented in the OpenAPI document", async () => {
    const doc = (await (await fetch(`${served.url}/openapi.json`)).json()) as any;
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/api/v1/targets/{version}",
        "/api/v1/profiles/{version}/{target}/{subtarget}",
      ]),
    );
  });
});

describe("build and stats pages, static files", () => {
  it("gives the build page the prepare tier's URL", async () => {
    const { res, text } = await page("/build");
    expect(res.status).toBe(200);
    expect(text).toContain('<main id="main" data-prepare-url="https://prepare.example.org">');
    expect(text).toMatch(/<script type="module" src="\/static\/build-page\.js\?v=[0-9a-f]{16}">/);
    expect(text).toContain('<label for="device-search">');
  });

  it("serves the stats page", async () => {
    const { res, text } = await page("/stats");
    expect(res.status).toBe(200);
    expect(text).toContain('id="builds-per-day"');
  });

  it("serves static files with an ETag, for good under a versioned URL", async () => {
    const { text } = await page("/stats");
    const css = /href="(\/static\/asu\.css\?v=[0-9a-f]+)"/.exec(text)![1]!;
    const versioned = await fetch(`${served.url}${css}`);
    expect(versioned.status).toBe(200);
    expect(versioned.headers.get("content-type")).toBe("text/css; charset=utf-8");
    expect(versioned.headers.get("cache-control")).toContain("immutable");
    const etag = versioned.headers.get("etag")!;
    const plain = await fetch(`${served.url}/static/svg-charts.js`, {
      headers: { "if-none-match": etag },
    });
    expect(plain.headers.get("cache-control")).toBe("no-cache");
    expect(plain.status).toBe(200);
    const again = await fetch(`${served.url}/static/asu.css`, {
      headers: { "if-none-match": etag },
    });
    expect(again.status).toBe(304);
    expect((await fetch(`${served.url}/static/../build-app.ts`)).status).toBe(404);
    expect((await fetch(`${served.url}/static/nope.js`)).status).toBe(404);
  });
});
