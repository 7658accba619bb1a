import { createApiApp } from "@asu/http";
import { DEFAULT_BRANCHES } from "@asu/openwrt-releases";
import { createMetadataClient, createOpenwrtCatalog } from "@asu/upstream";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type FakeUpstream, startFakeUpstream } from "../../../test/support/fake-upstream.ts";
import { type ServedApp, serveApp } from "../../../test/support/serve-app.ts";
import { silentLogger } from "../../../test/support/silent-logger.ts";
import { registerRevisionRoute } from "./revision-route.ts";

const silent = silentLogger("revision-test");

let upstream: FakeUpstream;
let served: ServedApp;

async function serve() {
  const client = createMetadataClient({ upstreamUrl: upstream.url, timeoutMs: 2000 });
  const app = createApiApp({ title: "test", version: "0.0.0", logger: silent });
  registerRevisionRoute(app, {
    catalog: createOpenwrtCatalog({ client, branches: DEFAULT_BRANCHES }),
  });
  return serveApp(app);
}

async function get(path: string) {
  const res = await fetch(`${served.url}${path}`);
  return { status: res.status, body: await res.json(), res };
}

beforeAll(async () => {
  upstream = await startFakeUpstream();
  served = await serve();
});

afterAll(async () => {
  await served?.close();
  await upstream?.close();
});

beforeEach(() => {
  upstream.requests.length = 0;
});

describe("GET /api/v1/revision/{version}/{target}/{subtarget}", () => {
  it.each([
    [
      "SNAPSHOT/ath79/generic",
      "r28695-22d1e6cd26",
      "/snapshots/targets/ath79/generic/profiles.json",
    ],
    [
      "24.10.0/ath79/generic",
      "r28427-6df0e3d02a",
      "/releases/24.10.0/targets/ath79/generic/profiles.json",
    ],
    ["23.05.5/x86/64", "r24106-10cc5fcd00", "/releases/23.05.5/targets/x86/64/profiles.json"],
  ])("%s → %s", async (path, revision, upstreamPath) => {
    const { status, body, res } = await get(`/api/v1/revision/${path}`);
    expect(status).toBe(200);
    expect(body).toEqual({ revision });
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(upstream.requests.map((request) => request.path)).toEqual([upstreamPath]);
  });

  it("passes upstream's 404 on, naming what it looked for", async () => {
    const { status, body } = await get("/api/v1/revision/23.05-SNAPSHOT/x86/64");
    expect(status).toBe(404);
    expect(body).toEqual({
      detail: "Failed to fetch revision for 23.05-SNAPSHOT/x86/64",
      status: 404,
    });
    expect(upstream.requests.map((request) => request.path)).toEqual([
      "/releases/23.05-SNAPSHOT/targets/x86/64/profiles.json",
    ]);
  });

  it("answers 404 for a profiles.json without version_code", async () => {
    upstream.addFile("releases/24.10.0/targets/ramips/mt7621/profiles.json", '{"profiles":{}}');
    const { status, body } = await get("/api/v1/revision/24.10.0/ramips/mt7621");
    expect(status).toBe(404);
    expect(body).toEqual({
      detail: "Failed to fetch revision for 24.10.0/ramips/mt7621",
      status: 404,
    });
  });

  it.each(["1.2.3", "19.07.10", "foo", "snapshot"])(
    "refuses %s, whose branch is not configured, without asking upstream",
    async (version) => {
      const { status, body } = await get(`/api/v1/revision/${version}/ath79/generic`);
      expect(status).toBe(400);
      expect(body).toEqual({ detail: `Unsupported version: ${version}`, status: 400 });
      expect(upstream.requests).toEqual([]);
    },
  );

  it("treats an encoded dot-dot target as naming no file", async () => {
    const { status, body } = await get("/api/v1/revision/24.10.0/%2e%2e/generic");
    expect(status).toBe(404);
    expect(body).toEqual({ detail: "Not Found" });
    const encoded = await get("/api/v1/revision/24.10.0/..%2F..%2F.versions.json/x");
    expect(encoded.status).toBe(404);
    expect(upstream.requests).toEqual([]);
  });

  it("answers 503 when upstream is down and nothing is cached", async () => {
    await upstream.setDown(true, "status503");
    try {
      const { status, body } = await get("/api/v1/revision/SNAPSHOT/x86/64");
      expect(status).toBe(503);
      expect(body).toEqual({
        status: 503,
        title: "Service Unavailable",
        detail: `Upstream metadata unavailable: ${upstream.url}/snapshots/targets/x86/64/profiles.json (HTTP 503)`,
      });
    } finally {
      await upstream.setDown(false);
    }
  });

  it("is documented in the OpenAPI document", async () => {
    const doc = (await (await fetch(`${served.url}/openapi.json`)).json()) as {
      paths: Record<string, { get?: { responses: Record<string, unknown> } }>;
    };
    expect(
      Object.keys(
        doc.paths["/api/v1/revision/{version}/{target}/{subtarget}"]?.get?.responses ?? {},
      ),
    ).toEqual(["200", "400", "404", "503"]);
  });
});
