import type { ApiApp } from "@asu/http";
import type { BuildQueue } from "@asu/queue";
import type { OpenwrtCatalog } from "@asu/upstream";
import type { Context } from "hono";
import type { Redis } from "ioredis";
import { renderBuildPage } from "./build-page.ts";
import { registerDeviceApi } from "./device-api.ts";
import { createHomePage, type HomePageSettings } from "./home-page.ts";
import { createLiveStatus, type NewBuildEta } from "./live-status.ts";
import { registerStaticAssets } from "./static-assets.ts";
import { renderStatsPage } from "./stats-page.ts";

export interface PagesDeps {
  catalog: Pick<OpenwrtCatalog, "branches" | "versions" | "hasVersion" | "targets" | "profiles">;
  queue: Pick<BuildQueue, "waitingCount">;
  redis: Redis;
  /** Wait estimates: the home page shows a new build's. */
  eta?: NewBuildEta;
  settings: HomePageSettings & { prepare_api_url?: string | undefined };
  version?: string;
}

function sendHtml(c: Context, html: string, cacheControl: string) {
  return c.body(html, 200, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": cacheControl,
  });
}

/**
 * The pages people look at: `/` (versions, targets, settings, queue),
 * `/build` (choose a device and build without a router), `/stats` (charts
 * of the statistics endpoints), their static files, and the two small JSON
 * endpoints the build page chooses devices with.
 */
export function registerPages(app: ApiApp, deps: PagesDeps): void {
  const assets = registerStaticAssets(app);
  registerDeviceApi(app, deps);

  const homePage = createHomePage({
    catalog: deps.catalog,
    settings: deps.settings,
    version: deps.version ?? "0.1.0",
    liveStatus: createLiveStatus(deps),
    assets,
  });
  const buildPage = renderBuildPage({ prepareApiUrl: deps.settings.prepare_api_url }, assets);
  const statsPage = renderStatsPage(assets);

  // The home page carries live numbers; the other two are the same until a restart.
  app.get("/", async (c) => sendHtml(c, await homePage(), "no-cache"));
  app.get("/build", async (c) => sendHtml(c, await buildPage, "public, max-age=300"));
  app.get("/stats", async (c) => sendHtml(c, await statsPage, "public, max-age=300"));
}
