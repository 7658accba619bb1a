import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApiApp, undocumentedRoutes } from "@asu/http";
import { createLocalStore, type LocalStore } from "@asu/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ARCHER,
  BUILD_ROUTE_SETTINGS,
  type BuildRouteStand,
  buildRouteDeps,
  startBuildRouteStand,
} from "../../../test/support/build-route-stand.ts";
import { type ServedApp, serveApp } from "../../../test/support/serve-app.ts";
import { silentLogger } from "../../../test/support/silent-logger.ts";
import { BUILD_CACHE_MAX_HASHES, registerBuildCacheRoute } from "./build-cache-route.ts";
import { registerBuildRoutes } from "./build-routes.ts";

const silent = silentLogger("build-cache-test");

let stand: BuildRouteStand;
let store: LocalStore;
let served: ServedApp;
let builds = 0;
const app = createApiApp({ title: "build", version: "0", logger: silent });

const IMAGE = "openwrt-sysupgrade.bin";

beforeAll(async () => {
  stand = await startBuildRouteStand();
  const { queue, redis } = stand;
  // Asks the disk every time: the test removes files behind the store's back.
  store = createLocalStore(await mkdtemp(join(tmpdir(), "asu-build-cache-")), {
    presenceTtlMs: 0,
  });
  registerBuildRoutes(app, buildRouteDeps(stand, BUILD_ROUTE_SETTINGS, { store }));
  registerBuildCacheRoute(app, { queue, redis, store });
  served = await serveApp(app);
});

afterAll(async () => {
  await stand?.closeWorkers();
  await served?.close();
  await stand?.stop();
  if (store) await rm(join(store.root, ".."), { recursive: true, force: true });
});

async function ask(body: unknown) {
  const res = await fetch(`${served.url}/api/v1/build-cache`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

const other = "f".repeat(64);

describe("POST /api/v1/build-cache", () => {
  it("says true for a hash exactly while its GET answers 200, and changes nothing", async () => {
    const posted = await fetch(`${served.url}/api/v1/build`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(ARCHER),
    });
    const hash: string = ((await posted.json()) as any).request_hash;
    expect(await ask({ request_hashes: [hash, other] })).toEqual({
      status: 200,
      body: { cache_available: { [hash]: false, [other]: false } },
    });

    stand.worker(async (job) => {
      builds++;
      const dir = await mkdtemp(join(tmpdir(), "asu-build-cache-work-"));
      await writeFile(join(dir, IMAGE), "image");
      await store.save(job.data.requestHash, dir);
      return { bin_dir: job.data.requestHash, manifest: {}, images: [{ name: IMAGE }] };
    });
    await expect
      .poll(async () => (await fetch(`${served.url}/api/v1/build/${hash}`)).status, {
        timeout: 20_000,
      })
      .toBe(200);
    // Asked twice in one request: answered once.
    expect(await ask({ request_hashes: [other, hash, hash] })).toEqual({
      status: 200,
      body: { cache_available: { [other]: false, [hash]: true } },
    });

    // Its files lost: not built, and asking does not rebuild it (a GET would).
    await rm(join(store.root, hash), { recursive: true });
    expect((await ask({ request_hashes: [hash] })).body).toEqual({
      cache_available: { [hash]: false },
    });
    expect(await (await stand.queue.queue.getJob(hash))?.getState()).toBe("completed");
    expect(builds).toBe(1);
  }, 40_000);

  it("refuses what is not a bounded list of hashes, in FastAPI's shape", async () => {
    const many = Array.from({ length: BUILD_CACHE_MAX_HASHES + 1 }, (_, i) =>
      i.toString(16).padStart(64, "0"),
    );
    for (const body of [
      { request_hashes: many },
      { request_hashes: [] },
      { request_hashes: ["../etc"] },
      { hashes: [other] },
      "not json",
    ]) {
      const answer = await ask(body);
      expect(answer.status).toBe(422);
      expect(Array.isArray(answer.body.detail)).toBe(true);
    }
    const large = await ask({ request_hashes: [other], padding: "x".repeat(20_000) });
    expect(large.status).toBe(413);
  });

  it("is in the OpenAPI document", async () => {
    expect(undocumentedRoutes(app)).toEqual([]);
    const document = (await (await fetch(`${served.url}/openapi.json`)).json()) as any;
    expect(document.paths["/api/v1/build-cache"].post.requestBody).toBeDefined();
  });
});
