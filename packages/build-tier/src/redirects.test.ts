import { type ApiApp, createApiApp } from "@asu/http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawRequest } from "../../../test/support/raw-request.ts";
import { type ServedApp, serveApp } from "../../../test/support/serve-app.ts";
import { silentLogger } from "../../../test/support/silent-logger.ts";
import { registerRedirects } from "./redirects.ts";

const silent = silentLogger("redirects-test");

let app: ApiApp;
let served: ServedApp;

beforeAll(async () => {
  app = createApiApp({ title: "test", version: "0.0.0", logger: silent });
  registerRedirects(app);
  app.get("/api/v1/stats", (c) => c.json({ queue_length: 0 }));
  served = await serveApp(app);
});

afterAll(async () => {
  await served?.close();
});

describe("legacy addresses", () => {
  it.each([
    ["/api/v1/latest", "/json/v1/latest.json"],
    ["/api/v1/overview", "/json/v1/overview.json"],
    ["/api/overview", "/json/v1/overview.json"],
    ["/overview", "/json/v1/overview.json"],
  ])("GET %s → 301 %s", async (from, to) => {
    const res = await fetch(`${served.url}${from}`, { redirect: "manual" });
    expect(res.status).toBe(301);
    expect(res.headers.get("location")).toBe(to);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("answers HEAD the same way", async () => {
    const res = await fetch(`${served.url}/api/overview`, { method: "HEAD", redirect: "manual" });
    expect(res.status).toBe(301);
    expect(res.headers.get("location")).toBe("/json/v1/overview.json");
  });

  it("documents them in the OpenAPI document", async () => {
    const doc = (await (await fetch(`${served.url}/openapi.json`)).json()) as {
      paths: Record<string, { get?: { responses: Record<string, unknown> } }>;
    };
    for (const path of ["/api/v1/latest", "/api/v1/overview", "/api/overview", "/overview"]) {
      expect(Object.keys(doc.paths[path]?.get?.responses ?? {})).toEqual(["301"]);
    }
  });
});

describe("double slashes", () => {
  it.each([
    ["//api/v1/overview", "/api/v1/overview"],
    ["//json/v1/overview.json", "/json/v1/overview.json"],
    ["//api/v1/build/abc?x=1&y=%2F", "/api/v1/build/abc?x=1&y=%2F"],
    ["//", "/"],
    ["///api/v1/stats", "/api/v1/stats"],
  ])("GET %s → 301 %s", async (from, to) => {
    const res = await rawRequest(served.url, from);
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe(to);
    expect(res.headers["access-control-allow-origin"]).toBe("*");
  });

  it("never sends a protocol-relative Location that leaves the site", async () => {
    const res = await rawRequest(served.url, "///evil.example.org/x");
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe("/evil.example.org/x");
  });

  it("keeps the method of a POST with a 308", async () => {
    const res = await rawRequest(served.url, "//api/v1/build", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(308);
    expect(res.headers.location).toBe("/api/v1/build");
  });

  it("leaves single-slash paths and preflights alone", async () => {
    expect((await rawRequest(served.url, "/api/v1/stats")).body.toString()).toBe(
      '{"queue_length":0}',
    );
    const preflight = await rawRequest(served.url, "//api/v1/build", {
      method: "OPTIONS",
      headers: { origin: "https://firmware-selector.openwrt.org" },
    });
    expect(preflight.status).toBe(204);
  });

  it("follows through to the answer", async () => {
    const res = await fetch(`${served.url}//api/v1/stats`);
    expect(res.status).toBe(200);
    expect(res.url).toBe(`${served.url}/api/v1/stats`);
    expect(await res.json()).toEqual({ queue_length: 0 });
  });
});
