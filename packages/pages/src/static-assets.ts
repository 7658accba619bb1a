import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { extname } from "node:path";
import type { ApiApp } from "@asu/http";

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".svg": "image/svg+xml",
};

interface Asset {
  body: string;
  type: string;
  etag: string;
}

export interface StaticAssets {
  /** `/static/{name}?v={hash}`: a URL that changes whenever the file does. */
  url(name: string): string;
}

const ASSET_DIR = new URL("./static/", import.meta.url);
const IMMUTABLE = "public, max-age=31536000, immutable";

/**
 * The pages' CSS and scripts, read once at start: they ship with the server
 * and are served from it, so the pages work without the internet. A URL with
 * the file's hash may be cached for good; without it (module imports) the
 * browser revalidates with the ETag.
 */
export function registerStaticAssets(app: ApiApp): StaticAssets {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(ASSET_DIR)) {
    const type = CONTENT_TYPES[extname(name)];
    if (!type) continue;
    const body = readFileSync(new URL(name, ASSET_DIR), "utf8");
    const hash = createHash("sha256").update(body).digest("hex").slice(0, 16);
    assets.set(name, { body, type, etag: `"${hash}"` });
  }

  app.get("/static/:name", (c) => {
    const asset = assets.get(c.req.param("name"));
    if (!asset) return c.json({ detail: "Not Found" }, 404);
    const versioned = c.req.query("v") === asset.etag.slice(1, -1);
    const headers = {
      "content-type": asset.type,
      "cache-control": versioned ? IMMUTABLE : "no-cache",
      etag: asset.etag,
      "x-content-type-options": "nosniff",
    };
    if (c.req.header("if-none-match") === asset.etag) return c.body(null, 304, headers);
    return c.body(asset.body, 200, headers);
  });

  return {
    url(name) {
      const asset = assets.get(name);
      if (!asset) throw new Error(`no static asset ${name}`);
      return `/static/${name}?v=${asset.etag.slice(1, -1)}`;
    },
  };
}
