import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createCacheProbe } from "./cache-probe.ts";

const servers: Server[] = [];

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A port nothing listens on: bound once, then closed. */
async function closedPort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

describe("createCacheProbe", () => {
  it("counts any HTTP answer as a cache that is there", async () => {
    const url = await listen((_req, res) => res.writeHead(404).end());
    expect(await createCacheProbe(`${url}/`)()).toBe(true);
  });

  it("reports a refused connection as unreachable", async () => {
    expect(await createCacheProbe(await closedPort())()).toBe(false);
  });

  it("gives up on a cache that accepts but never answers", async () => {
    const url = await listen(() => undefined);
    expect(await createCacheProbe(url, { timeoutMs: 200 })()).toBe(false);
  });

  it("asks again at every build while the cache answers", async () => {
    let requests = 0;
    const url = await listen((_req, res) => {
      requests++;
      res.end();
    });
    const probe = createCacheProbe(url);
    expect(await probe()).toBe(true);
    expect(await probe()).toBe(true);
    expect(requests).toBe(2);
  });

  it("takes a cache found down as down for a while, then asks again", async () => {
    const url = await closedPort();
    let clock = 0;
    const probe = createCacheProbe(url, { ttlMs: 1_000, now: () => clock });
    expect(await probe()).toBe(false);
    // Back up, but not asked yet.
    const server = createServer((_req, res) => res.end());
    servers.push(server);
    await new Promise<void>((resolve) =>
      server.listen(Number(new URL(url).port), "127.0.0.1", resolve),
    );
    clock = 999;
    expect(await probe()).toBe(false);
    clock = 1_000;
    expect(await probe()).toBe(true);
  });
});
