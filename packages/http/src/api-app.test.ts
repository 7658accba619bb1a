import { Writable } from "node:stream";
import { badRequest, problem } from "@asu/contract";
import { createLogger } from "@asu/observability";
import { createRoute, z } from "@hono/zod-openapi";
import { describe, expect, it } from "vitest";
import { createApiApp } from "./api-app.ts";
import { orderedJson, rawBody, readJsonBody } from "./json-body.ts";
import { queryBoolean } from "./query-schemas.ts";
import { requestLogger } from "./request-context.ts";
import { undocumentedRoutes } from "./route-coverage.ts";
import { openapiAt } from "./route-pattern.ts";

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

  it("gives routes one logger per request, carrying its id", async () => {
    const { app, lines } = testApp();
    app.get("/logs", (c) => {
      const first = requestLogger(c);
      first.info({ step: 1 }, "route says");
      return c.json({ same: first === requestLogger(c) });
    });
    const res = await app.request("/logs", { headers: { "X-Request-Id": "req-7" } });
    expect(await res.json()).toEqual({ same: true });
    expect(lines.find((line) => line.msg === "route says")).toMatchObject({
      request_id: "req-7",
      step: 1,
    });
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

/** A route declared as the tiers declare theirs: raw body, ordered JSON, the route's own schema. */
function declaredApp() {
  const { logger } = capture();
  const app = createApiApp({ title: "t", version: "0", logger });
  app.openapi(
    createRoute({
      method: "post",
      path: "/things",
      middleware: [rawBody(64), orderedJson()] as const,
      request: {
        query: z.object({ dry: queryBoolean() }),
        body: {
          required: true,
          content: {
            "application/json": {
              schema: z.object({ name: z.string(), tags: z.record(z.string(), z.string()) }),
            },
          },
        },
      },
      responses: { 200: { description: "ok" } },
    }),
    (c) =>
      c.json({
        dry: c.req.valid("query").dry,
        name: c.req.valid("json").name,
        keys: Object.keys(c.var.bodyJson as object),
        proto: Object.getPrototypeOf(c.var.bodyJson),
      }),
  );
  return app;
}

describe("a route declared with rawBody and orderedJson", () => {
  const post = (body: string, headers: Record<string, string> = {}, query = "") =>
    declaredApp().request(`/things${query}`, { method: "POST", body, headers });

  it("reads the body as JSON whatever its content type, keeping key order, without prototypes", async () => {
    for (const headers of [
      {} as Record<string, string>,
      { "content-type": "text/plain" },
      { "content-type": "x/y" },
    ]) {
      const res = await post('{"tags":{"b":"1","a":"2"},"name":"n"}', headers, "?dry=yes");
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        dry: true,
        name: "n",
        keys: ["tags", "name"],
        proto: null,
      });
    }
  });

  it("answers every failure with the contract's 422 shapes, not 400 or 415", async () => {
    const bad = await post('{"name":', { "content-type": "text/plain" });
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as any).detail[0]).toMatchObject({ type: "json_invalid" });

    const schema = await post('{"name":1,"tags":{}}');
    expect(schema.status).toBe(422);
    expect(await schema.json()).toEqual({
      detail: [
        {
          type: "string_type",
          loc: ["body", "name"],
          msg: "Input should be a valid string",
          input: 1,
        },
      ],
    });

    const query = await post('{"name":"n","tags":{}}', {}, "?dry=maybe");
    expect(query.status).toBe(422);
    expect(await query.json()).toEqual({
      detail: [
        {
          type: "bool_parsing",
          loc: ["query", "dry"],
          msg: "Input should be a valid boolean, unable to interpret input",
          input: "maybe",
        },
      ],
    });

    expect((await post("")).status).toBe(422);
    expect((await post("x".repeat(65))).status).toBe(413);
  });
});

describe("undocumentedRoutes", () => {
  it("reports a mounted route the document lacks, wildcards included", () => {
    const app = declaredApp();
    expect(undocumentedRoutes(app)).toEqual([]);
    app.get("/plain", (c) => c.text("x"));
    app.get("/files/*", (c) => c.text("x"));
    expect(undocumentedRoutes(app)).toEqual(["GET /files/*", "GET /plain"]);
  });

  it("knows a route mounted at a Hono pattern by its documented path", async () => {
    const app = declaredApp();
    openapiAt(
      app,
      createRoute({
        method: "get",
        path: "/files/{dir}/{name}.txt",
        request: { params: z.object({ dir: z.string(), name: z.string() }) },
        responses: { 200: { description: "a file" } },
      }),
      "/files/:dir{.+}/:name{[^/]+\\.txt}",
      (c) => c.json(c.req.valid("param")),
    );
    expect(undocumentedRoutes(app)).toEqual([]);
    expect(await (await app.request("/files/a/b/c.txt")).json()).toEqual({
      dir: "a/b",
      name: "c.txt",
    });
    const doc = (await (await app.request("/openapi.json")).json()) as any;
    expect(Object.keys(doc.paths)).toContain("/files/{dir}/{name}.txt");
  });
});
