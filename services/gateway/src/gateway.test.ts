import { createHash } from "node:crypto";
import type { LookupAddress } from "node:dns";
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { Readable, Writable } from "node:stream";
import { createLogger } from "@asu/http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createGateway, tierFor } from "./gateway.ts";
import { readGatewaySettings } from "./gateway-settings.ts";
import { roundRobinLookup } from "./round-robin-lookup.ts";

const quiet = createLogger({
  service: "gateway",
  destination: new Writable({ write: (_chunk, _encoding, done) => done() }),
});

const BIG = Buffer.alloc(5 * 1024 * 1024);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 7919) % 251;
const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

interface Tier {
  name: string;
  port: number;
  url: string;
  seen: { method: string; url: string; headers: IncomingHttpHeaders; body: Buffer }[];
  /** Requests the gateway gave up on before the tier answered. */
  abandoned: number;
  close(): Promise<void>;
}

/** A stand-in tier that shows what reached it, serves a large file, or never answers. */
async function startTier(name: string, host = "127.0.0.1", port = 0): Promise<Tier> {
  const tier: Omit<Tier, "port" | "url" | "close"> = { name, seen: [], abandoned: 0 };
  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const url = req.url ?? "/";
    tier.seen.push({ method: req.method ?? "", url, headers: req.headers, body });
    if (req.method === "OPTIONS") {
      res.writeHead(204, {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "GET,HEAD,POST,OPTIONS",
        "Access-Control-Allow-Headers": req.headers["access-control-request-headers"] ?? "",
        "Access-Control-Max-Age": "86400",
        Vary: "Access-Control-Request-Headers",
        "X-Tier": name,
      });
      res.end();
    } else if (url === "/store/big.bin") {
      res.writeHead(200, {
        "Content-Type": "application/octet-stream",
        "Content-Length": BIG.length,
        "X-Tier": name,
      });
      res.end(BIG);
    } else if (url === "/slow") {
      res.on("close", () => {
        if (!res.writableFinished) tier.abandoned++;
      });
    } else if (url === "/hop") {
      res.writeHead(200, [
        "Connection",
        "X-Internal",
        "X-Internal",
        "secret",
        "Set-Cookie",
        "a=1",
        "Set-Cookie",
        "b=2",
        "X-Tier",
        name,
      ]);
      res.end("ok");
    } else {
      const answer = () => {
        res.writeHead(url.startsWith("/missing") ? 404 : 200, {
          "Content-Type": "application/json",
          "Access-Control-Allow-Origin": "*",
          "X-Tier": name,
        });
        res.end(
          JSON.stringify({
            tier: name,
            method: req.method,
            url,
            headers: req.headers,
            body: `${body}`,
          }),
        );
      };
      if (url.includes("delay")) setTimeout(answer, 100);
      else answer();
    }
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => handle(req, res, Buffer.concat(chunks)));
    // /slow never ends its answer; its request body is empty, so "end" still fires.
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const bound = (server.address() as AddressInfo).port;
  return Object.assign(tier, {
    port: bound,
    url: `http://${host}:${bound}`,
    close: () => closeServer(server),
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

async function listen(server: Server): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => closeServer(server) };
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

/** A plain node:http request, so hop-by-hop headers and chunked bodies can be sent as-is. */
function send(
  base: string,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | Readable } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}${path}`,
      { method: options.method ?? "GET", headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (options.body instanceof Readable) options.body.pipe(req);
    else req.end(options.body);
  });
}

const json = (answer: Answer) => JSON.parse(answer.body.toString("utf8"));

describe("tierFor", () => {
  it("sends the prepare endpoint to the prepare tier and everything else to the build tier", () => {
    expect(tierFor("/api/v1/build/prepare")).toBe("prepare");
    expect(tierFor("/api/v1/build/prepare/")).toBe("prepare");
    expect(tierFor("/api/v1/build/prepare?from=x")).toBe("prepare");
    for (const url of [
      "/api/v1/build",
      "/api/v1/build?skip_package_resolution=true",
      "/api/v1/build/0123abcd",
      "/api/v1/build/prepared",
      "/api/v1/build/prepare/extra",
      "/store/abc/x.bin",
      "/json/v1/overview.json",
      "/health",
      "/",
    ]) {
      expect(tierFor(url), url).toBe("build");
    }
  });
});

describe("gateway", () => {
  let prepare: Tier;
  let build: Tier;
  let gateway: { url: string; close(): Promise<void> };

  beforeAll(async () => {
    prepare = await startTier("prepare");
    build = await startTier("build");
    gateway = await listen(
      createGateway({
        prepareUrl: prepare.url,
        buildUrl: build.url,
        logger: quiet,
        timeoutMs: 300,
      }),
    );
  });
  afterAll(async () => {
    await gateway.close();
    await prepare.close();
    await build.close();
  });

  it("routes prepare requests to the prepare tier with the body unchanged", async () => {
    const body = JSON.stringify({ version: "24.10.0", packages: ["luci"] });
    const answer = await send(gateway.url, "/api/v1/build/prepare", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: Buffer.from(body),
    });
    expect(answer.status).toBe(200);
    expect(json(answer)).toMatchObject({ tier: "prepare", method: "POST", body });
    expect(json(answer).headers["content-type"]).toBe("application/json");
  });

  it("routes builds, status polls and the store to the build tier, statuses kept", async () => {
    const posted = await send(gateway.url, "/api/v1/build?skip_package_resolution=true", {
      method: "POST",
      body: Buffer.from("{}"),
    });
    expect(json(posted)).toMatchObject({
      tier: "build",
      url: "/api/v1/build?skip_package_resolution=true",
    });
    const missing = await send(gateway.url, "/missing/abc");
    expect(missing.status).toBe(404);
    expect(missing.headers["x-tier"]).toBe("build");
  });

  it("adds X-Forwarded-* and a request id the tier adopts, keeping a sane incoming one", async () => {
    const fresh = json(
      await send(gateway.url, "/api/v1/overview", { headers: { Host: "asu.example" } }),
    );
    expect(fresh.headers.host).toBe("asu.example");
    expect(fresh.headers["x-forwarded-for"]).toBe("127.0.0.1");
    expect(fresh.headers["x-forwarded-proto"]).toBe("http");
    expect(fresh.headers["x-forwarded-host"]).toBe("asu.example");
    expect(fresh.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);

    const kept = json(
      await send(gateway.url, "/api/v1/overview", {
        headers: {
          "X-Request-Id": "abc-123",
          "X-Forwarded-For": "203.0.113.7",
          "X-Forwarded-Proto": "https",
        },
      }),
    );
    expect(kept.headers["x-request-id"]).toBe("abc-123");
    expect(kept.headers["x-forwarded-for"]).toBe("203.0.113.7, 127.0.0.1");
    expect(kept.headers["x-forwarded-proto"]).toBe("https");

    const insane = json(
      await send(gateway.url, "/api/v1/overview", { headers: { "X-Request-Id": "a b<script>" } }),
    );
    expect(insane.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("forwards CORS preflights and passes the tier's answer through unchanged", async () => {
    const answer = await send(gateway.url, "/api/v1/build/prepare", {
      method: "OPTIONS",
      headers: {
        Origin: "https://firmware-selector.openwrt.org",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
      },
    });
    expect(answer.status).toBe(204);
    expect(answer.headers).toMatchObject({
      "access-control-allow-origin": "*",
      "access-control-allow-methods": "GET,HEAD,POST,OPTIONS",
      "access-control-allow-headers": "content-type",
      "access-control-max-age": "86400",
      vary: "Access-Control-Request-Headers",
      "x-tier": "prepare",
    });
    const seen = prepare.seen.at(-1);
    expect(seen?.method).toBe("OPTIONS");
    expect(seen?.headers.origin).toBe("https://firmware-selector.openwrt.org");
  });

  it("drops hop-by-hop headers both ways and keeps repeated ones", async () => {
    const echoed = json(
      await send(gateway.url, "/api/v1/overview", {
        headers: { Connection: "keep-alive, X-Hop", "X-Hop": "1", "X-End": "2" },
      }),
    );
    expect(echoed.headers["x-hop"]).toBeUndefined();
    expect(echoed.headers["x-end"]).toBe("2");

    const answer = await send(gateway.url, "/hop");
    expect(answer.headers["x-internal"]).toBeUndefined();
    expect(answer.headers["set-cookie"]).toEqual(["a=1", "b=2"]);
  });

  it("streams large downloads and chunked uploads intact", async () => {
    const download = await send(gateway.url, "/store/big.bin");
    expect(download.status).toBe(200);
    expect(download.headers["content-length"]).toBe(String(BIG.length));
    expect(sha256(download.body)).toBe(sha256(BIG));

    const upload = Buffer.alloc(256 * 1024, 0x61);
    const parts = [upload.subarray(0, 100_000), upload.subarray(100_000)];
    const answer = await send(gateway.url, "/api/v1/build", {
      method: "POST",
      body: Readable.from(parts),
    });
    expect(json(answer).body).toBe(upload.toString("utf8"));
    expect(json(answer).headers["transfer-encoding"]).toBe("chunked");
  });

  it("answers 504 in the error shape when a tier does not begin its answer in time", async () => {
    const answer = await send(gateway.url, "/slow");
    expect(answer.status).toBe(504);
    expect(json(answer)).toEqual({ detail: "The build tier did not answer in time", status: 504 });
    expect(answer.headers["access-control-allow-origin"]).toBe("*");
    expect(answer.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor(() => build.abandoned === 1);
  });

  it("ends the tier request when the client leaves", async () => {
    const before = build.abandoned;
    const slowSeen = () => build.seen.filter((seen) => seen.url === "/slow").length;
    const seenBefore = slowSeen();
    const req = request(`${gateway.url}/slow`, { agent: false });
    req.on("error", () => {});
    req.end();
    await waitFor(() => slowSeen() === seenBefore + 1);
    req.destroy();
    await waitFor(() => build.abandoned === before + 1);
  });
});

async function waitFor(done: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("gateway with tiers down or replicated", () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  it("answers 502 in the error shape, readable cross-origin, when a tier is unreachable", async () => {
    const dead = await startTier("dead");
    await dead.close();
    const gateway = await listen(
      createGateway({ prepareUrl: dead.url, buildUrl: dead.url, logger: quiet }),
    );
    closers.push(gateway.close);
    const answer = await send(gateway.url, "/api/v1/build/prepare", {
      method: "POST",
      body: Buffer.from("{}"),
    });
    expect(answer.status).toBe(502);
    expect(json(answer)).toEqual({ detail: "The prepare tier is unavailable", status: 502 });
    expect(answer.headers["access-control-allow-origin"]).toBe("*");
    expect(answer.headers["content-type"]).toBe("application/json");
  });

  it("spreads connections over every replica behind one name and skips a dead one", async () => {
    const first = await startTier("replica-1", "127.0.0.1");
    const second = await startTier("replica-2", "127.0.0.2", first.port);
    closers.push(first.close, second.close);
    let replicas: LookupAddress[] = [
      { address: "127.0.0.1", family: 4 },
      { address: "127.0.0.2", family: 4 },
    ];
    const lookup = roundRobinLookup({ resolve: async () => replicas });
    const gateway = await listen(
      createGateway({
        prepareUrl: `http://prepare.test:${first.port}`,
        buildUrl: `http://build.test:${first.port}`,
        logger: quiet,
        lookup,
      }),
    );
    closers.push(gateway.close);

    // Concurrent requests each need a connection of their own.
    const answers = await Promise.all(
      Array.from({ length: 8 }, () =>
        send(gateway.url, "/api/v1/build/prepare?delay", {
          method: "POST",
          body: Buffer.from("{}"),
        }),
      ),
    );
    const tiers = answers.map((answer) => json(answer).tier).sort();
    expect(tiers.filter((tier) => tier === "replica-1")).toHaveLength(4);
    expect(tiers.filter((tier) => tier === "replica-2")).toHaveLength(4);

    // A replica that went away: a request without a body is retried on the next one.
    replicas = [
      { address: "127.0.0.3", family: 4 },
      { address: "127.0.0.1", family: 4 },
    ];
    lookup.forget("build.test");
    for (let i = 0; i < 4; i++) {
      const answer = await send(gateway.url, "/delay/status");
      expect(answer.status).toBe(200);
    }
  });
});

describe("readGatewaySettings", () => {
  it("defaults to port 8000 and tiers on this host", () => {
    expect(readGatewaySettings({})).toEqual({
      port: 8000,
      host: "0.0.0.0",
      prepareUrl: "http://127.0.0.1:8001",
      buildUrl: "http://127.0.0.1:8000",
      timeoutMs: 60_000,
      logLevel: "INFO",
    });
    expect(
      readGatewaySettings({
        PORT: "9000",
        GATEWAY_PREPARE_URL: "http://prepare:8001",
        GATEWAY_TIMEOUT: "2m",
      }),
    ).toMatchObject({ port: 9000, prepareUrl: "http://prepare:8001", timeoutMs: 120_000 });
  });

  it("names every bad setting", () => {
    expect(() => readGatewaySettings({ PORT: "http", GATEWAY_TIMEOUT: "soon" })).toThrow(
      /PORT="http".*\n.*GATEWAY_TIMEOUT="soon"/,
    );
  });

  it("refuses tier URLs that are not http origins", () => {
    for (const url of ["prepare:8001", "https://prepare:8001", "http://prepare:8001/api"]) {
      expect(() => createGateway({ prepareUrl: url, buildUrl: url, logger: quiet }), url).toThrow(
        /prepare tier URL/,
      );
    }
  });
});
