import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApiApp, undocumentedRoutes } from "@asu/http";
import { createLocalStore, type LocalStore } from "@asu/store";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  ARCHER,
  BUILD_ROUTE_SETTINGS,
  type BuildRouteStand,
  buildRouteDeps,
  callJson,
  startBuildRouteStand,
} from "../../../test/support/build-route-stand.ts";
import { type ServedApp, serveApp } from "../../../test/support/serve-app.ts";
import { silentLogger } from "../../../test/support/silent-logger.ts";
import { registerBuildRoutes } from "./build-routes.ts";
import {
  COMPLETED_HASHES_MAX_PAGE,
  COMPLETED_HASHES_PATH,
  registerCompletedHashesRoute,
} from "./completed-hashes-route.ts";

let stand: BuildRouteStand;
let store: LocalStore;
let served: ServedApp;
let completedKey: string;
const app = createApiApp({ title: "build", version: "0", logger: silentLogger("completed-test") });

beforeAll(async () => {
  stand = await startBuildRouteStand();
  const { queue, redis } = stand;
  completedKey = queue.queue.keys.completed as string;
  store = createLocalStore(await mkdtemp(join(tmpdir(), "asu-completed-hashes-")));
  registerBuildRoutes(app, buildRouteDeps(stand, BUILD_ROUTE_SETTINGS, { store }));
  registerCompletedHashesRoute(app, { queue, redis });
  served = await serveApp(app);
});

beforeEach(async () => {
  await stand.closeWorkers();
  await stand.redis.del(completedKey);
});

afterAll(async () => {
  await served?.close();
  await stand?.stop();
  if (store) await rm(join(store.root, ".."), { recursive: true, force: true });
});

const hash = (n: number) => n.toString(16).padStart(64, "0");

function page(query = "") {
  return callJson(served.url, "GET", `${COMPLETED_HASHES_PATH}${query}`);
}

/** Every page from `after` on, `limit` at a time: the hashes in order and each page's size. */
async function readAll(limit: number, after?: string) {
  const hashes: string[] = [];
  const sizes: number[] = [];
  let cursor = after;
  for (;;) {
    const params = new URLSearchParams({ limit: String(limit) });
    if (cursor) params.set("after", cursor);
    const answer = await page(`?${params}`);
    expect(answer.status).toBe(200);
    hashes.push(...answer.body.hashes);
    sizes.push(answer.body.hashes.length);
    cursor = answer.body.cursor;
    if (!answer.body.more) return { hashes, sizes, cursor };
  }
}

describe(`GET ${COMPLETED_HASHES_PATH}`, () => {
  it("lists a finished build's hash", async () => {
    expect((await page()).body).toEqual({ hashes: [], cursor: null, more: false });
    const posted = await callJson(served.url, "POST", "/api/v1/build", ARCHER);
    const requestHash: string = posted.body.request_hash;
    stand.worker(async (job) => {
      const dir = await mkdtemp(join(tmpdir(), "asu-completed-hashes-work-"));
      await writeFile(join(dir, "image.bin"), "image");
      await store.save(job.data.requestHash, dir);
      return { bin_dir: job.data.requestHash, manifest: {}, images: [{ name: "image.bin" }] };
    });
    await expect
      .poll(async () => (await page()).body.hashes, { timeout: 20_000 })
      .toEqual([requestHash]);
    const { body } = await page();
    // The cursor is the finish time: nothing after it until the next build.
    expect(body.cursor).toMatch(/^\d+:1$/);
    expect(await page(`?after=${body.cursor}`)).toMatchObject({
      status: 200,
      body: { hashes: [], cursor: body.cursor, more: false },
    });
  }, 40_000);

  it("pages in finish order, going on past a page that ends amid entries of one score", async () => {
    // Scores 1, five at 2, 3: pages of two end inside the tie twice.
    await stand.redis.zadd(completedKey, 1, hash(1));
    for (let n = 2; n <= 6; n++) await stand.redis.zadd(completedKey, 2, hash(n));
    await stand.redis.zadd(completedKey, 3, hash(7));
    const all = Array.from({ length: 7 }, (_, i) => hash(i + 1));

    const byTwo = await readAll(2);
    expect(byTwo.hashes).toEqual(all);
    expect(byTwo.sizes).toEqual([2, 2, 2, 1]);
    expect(byTwo.cursor).toBe("3:1");
    expect((await readAll(5)).hashes).toEqual(all);
    expect((await readAll(1)).hashes).toEqual(all);

    // A page ending exactly at the last entry says so: no empty page after it.
    expect((await readAll(7)).sizes).toEqual([7]);

    // From a finish time on (what a mirror asks to re-read a recent window).
    expect((await readAll(2, "2:0")).hashes).toEqual(all.slice(1));
    // Later builds come after the cursor, also ones tied with its score.
    await stand.redis.zadd(completedKey, 3, hash(8));
    await stand.redis.zadd(completedKey, 4, hash(9));
    expect((await readAll(2, byTwo.cursor)).hashes).toEqual([hash(8), hash(9)]);
  });

  it("caps a page at its bound", async () => {
    const entries: (string | number)[] = [];
    for (let n = 0; n <= COMPLETED_HASHES_MAX_PAGE; n++) entries.push(n, hash(n));
    await stand.redis.zadd(completedKey, ...entries);
    const first = await page(`?limit=${COMPLETED_HASHES_MAX_PAGE * 10}`);
    expect(first.body.hashes).toHaveLength(COMPLETED_HASHES_MAX_PAGE);
    expect(first.body.more).toBe(true);
    const rest = await page(`?after=${first.body.cursor}`);
    expect(rest.body).toEqual({
      hashes: [hash(COMPLETED_HASHES_MAX_PAGE)],
      cursor: `${COMPLETED_HASHES_MAX_PAGE}:1`,
      more: false,
    });
  });

  it("refuses a cursor or limit that is not one, in FastAPI's shape", async () => {
    for (const query of [
      "?after=soon",
      "?after=12",
      "?after=-1:0",
      "?after=1:2:3",
      "?after=inf:0",
      "?limit=0",
      "?limit=ten",
      "?limit=-3",
    ]) {
      const answer = await page(query);
      expect(answer.status, query).toBe(422);
      expect(Array.isArray(answer.body.detail), query).toBe(true);
    }
  });

  it("is in the OpenAPI document", async () => {
    expect(undocumentedRoutes(app)).toEqual([]);
    const document = (await (await fetch(`${served.url}/openapi.json`)).json()) as any;
    expect(document.paths[COMPLETED_HASHES_PATH].get.parameters).toBeDefined();
  });
});
