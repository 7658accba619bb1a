import { Writable } from "node:stream";
import { badRequest, problem } from "@asu/core";
import { createLogger } from "@asu/observability";
import { describe, expect, it } from "vitest";
import { createApiApp } from "./api-app.ts";
import { readJsonBody } from "./json-body.ts";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: createLogger({ service: "test", destination }) };
}

function testApp() {
  const { lines, logger } = capture();
  const app = createApiApp({ title: "t", version: "0", logger });
  app.post("/echo", async (c) => {
    const body = await readJsonBody(c, 64);
    if (!body.ok) throw body.error;
    return c.json({ got: body.value });
  });
  app.get("/bad", () => {
    throw badRequest("Unsupported distro: x");
  });
  app.get("/down", () => {
    throw problem(503, "Service Unavailable", "upstream down");
  });
  app.get("/boom", () => {
    throw new Error("secret internals");
  });
  return { app, lines };
}

describe("createApiApp", () => {
  it("answers CORS preflights for any header", async () => {
    const { app } = testApp();
    const res = await app.request("/echo", {
      method: "OPTIONS",
      headers: {
        Origin: "https://firmware-selector.openwrt.org",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-custom",
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-methods")).toBe("GET,HEAD,POST,OPTIONS");
    expect(res.headers.get("access-control-allow-headers")).toContain("x-custom");
  });

  it("puts CORS and the request id on errors too", async () => {
    const { app } = testApp();
    const res = await app.request("/bad", { headers: { Origin: "https://x.example" } });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ detail: "Unsupported distro: x", status: 400 });
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-expose-headers")).toContain("X-Imagebuilder-Status");
    expect(res.headers.get("access-control-expose-headers")).toContain("X-Queue-Position");
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("sends problem bodies as they are", async () => {
    const { app } = testApp();
    const res = await app.request("/down");
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      status: 503,
      title: "Service Unavailable",
      detail: "upstream down",
    });
  });

  it("hides unexpected errors behind a 500 and logs them with the request id", async () => {
    const { app, lines } = testApp();
    const res = await app.request("/boom", { headers: { "X-Request-Id": "abc-123" } });
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain("secret internals");
    const logged = lines.find((line) => line.msg === "unhandled error");
    expect(logged?.request_id).toBe("abc-123");
    expect(res.headers.get("x-request-id")).toBe("abc-123");
  });

  it("logs refused requests at info, one JSON line each", async () => {
    const { app, lines } = testApp();
    await app.request("/nowhere");
    const line = lines.find((entry) => entry.msg === "request");
    expect(line).toMatchObject({
      level: "info",
      method: "GET",
      path: "/nowhere",
      status: 404,
      service: "test",
    });
  });

  it("logs successful requests at debug only", async () => {
    const { app, lines } = testApp();
    await app.request("/echo", { method: "POST", body: "{}" });
    expect(lines.filter((entry) => entry.msg === "request")).toEqual([]);

    const debugLines: Record<string, unknown>[] = [];
    const debugApp = createApiApp({
      title: "t",
      version: "0",
      logger: createLogger({
        service: "test",
        level: "DEBUG",
        destination: new Writable({
          write(chunk, _encoding, done) {
            debugLines.push(JSON.parse(String(chunk)));
            done();
          },
        }),
      }),
    });
    debugApp.get("/ok", (c) => c.json({}));
    await debugApp.request("/ok");
    expect(debugLines.find((entry) => entry.msg === "request")).toMatchObject({
      level: "debug",
      status: 200,
    });
  });

  it("answers unknown paths with FastAPI's 404", async () => {
    const { app } = testApp();
    const res = await app.request("/nowhere");
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ detail: "Not Found" });
  });

  it("serves an OpenAPI document and docs", async () => {
    const { app } = testApp();
    const doc = (await (await app.request("/openapi.json")).json()) as any;
    expect(doc.openapi).toBe("3.1.0");
    const docs = await app.request("/docs");
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain("/openapi.json");
  });
});

describe("readJsonBody", () => {
  const post = (body: string | null, headers: Record<string, string> = {}) =>
    testApp().app.request("/echo", { method: "POST", body, headers });

  it("parses JSON whatever the content type", async () => {
    const res = await post('{"a":1}');
    expect(await res.json()).toEqual({ got: { a: 1 } });
  });

  it("answers malformed JSON with FastAPI's json_invalid", async () => {
    const res = await post('{"a":', { "content-type": "application/json" });
    expect(res.status).toBe(422);
    const body = (await res.json()) as any;
    expect(body.detail[0]).toMatchObject({
      type: "json_invalid",
      msg: "JSON decode error",
      input: {},
    });
    expect(body.detail[0].loc[0]).toBe("body");
  });

  it("answers an empty body as a missing body", async () => {
    const res = await post("");
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({
      detail: [{ type: "missing", loc: ["body"], msg: "Field required", input: null }],
    });
  });

  it("refuses a declared oversized body before reading it", async () => {
    const res = await post("x".repeat(65), { "content-length": "65" });
    expect(res.status).toBe(413);
    expect(((await res.json()) as any).detail).toBe("Request body is larger than 64 bytes");
  });

  it("refuses an oversized streamed body", async () => {
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode("0123456789"));
        controller.close();
      },
    });
    const res = await testApp().app.request("/echo", {
      method: "POST",
      body: stream,
      duplex: "half",
    } as RequestInit & { duplex: string });
    expect(res.status).toBe(413);
  });
});
