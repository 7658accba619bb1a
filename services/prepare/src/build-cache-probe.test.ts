import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBuildCacheProbe } from "./build-cache-probe.ts";

let server: Server;
let url: string;
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.url?.endsWith("/built")) res.writeHead(200).end();
    else if (req.url?.endsWith("/queued")) res.writeHead(202).end();
    else if (req.url?.endsWith("/slow")) setTimeout(() => res.writeHead(200).end(), 2000);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
});

describe("createBuildCacheProbe", () => {
  it("is true only for a finished build", async () => {
    const probe = createBuildCacheProbe({ buildApiUrl: url });
    expect(await probe("built")).toBe(true);
    expect(await probe("queued")).toBe(false);
    expect(await probe("unknown")).toBe(false);
    expect(seen).toContain("HEAD /api/v1/build/built");
  });

  it("is false when the build tier is slow", async () => {
    const probe = createBuildCacheProbe({ buildApiUrl: url, timeoutMs: 100 });
    const started = Date.now();
    expect(await probe("slow")).toBe(false);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it("is false when the build tier is down or not configured", async () => {
    expect(await createBuildCacheProbe({ buildApiUrl: "http://127.0.0.1:1" })("built")).toBe(false);
    expect(await createBuildCacheProbe({ buildApiUrl: undefined })("built")).toBe(false);
  });
});
