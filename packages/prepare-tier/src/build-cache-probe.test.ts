import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type BuildCacheProbe, createBuildCacheProbe } from "./build-cache-probe.ts";

/**
 * A stand-in build tier's POST /api/v1/build-cache: true for built hashes; a
 * request naming a `held` hash waits for release() of it. `seen` lists each
 * request as `path hash,hash,…`; anything but a POST is counted in `gets`
 * and answered 404.
 */
let server: Server;
let url: string;
let seen: string[];
let connections: number;
let gets = 0;
const built = new Set<string>();
const held = new Map<string, (() => void)[]>();
const probes: BuildCacheProbe[] = [];

function answer(res: ServerResponse, hashes: string[]) {
  res.writeHead(200, { "content-type": "application/json" });
  res.end(
    JSON.stringify({ cache_available: Object.fromEntries(hashes.map((h) => [h, built.has(h)])) }),
  );
}

function release(hash: string) {
  for (const send of held.get(hash) ?? []) send();
  held.delete(hash);
}

function probeWith(options: Partial<Parameters<typeof createBuildCacheProbe>[0]> = {}) {
  // Answers are awaited in full unless a test is about the wait: a loaded machine may be slow.
  const probe = createBuildCacheProbe({ buildApiUrl: url, answerWithinMs: 60_000, ...options });
  probes.push(probe);
  return probe;
}

beforeAll(async () => {
  server = createServer(async (req, res) => {
    if (req.method !== "POST") {
      gets++;
      res.writeHead(404).end();
      return;
    }
    let body = "";
    for await (const chunk of req) body += chunk;
    const hashes = (JSON.parse(body) as { request_hashes: string[] }).request_hashes;
    seen.push(`${req.method} ${req.url} ${hashes.join(",")}`);
    const heldHash = hashes.find((hash) => hash.startsWith("held"));
    if (heldHash) {
      held.set(heldHash, [...(held.get(heldHash) ?? []), () => answer(res, hashes)]);
      return;
    }
    answer(res, hashes);
  });
  server.on("connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

afterEach(async () => {
  for (const hash of [...held.keys()]) release(hash);
  await Promise.all(probes.splice(0).map((probe) => probe.close?.()));
  seen = [];
  connections = 0;
  built.clear();
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
});

seen = [];
connections = 0;

const ASK = "POST /api/v1/build-cache";

describe("createBuildCacheProbe", () => {
  it("is true only for a hash the build tier calls built, asking under the URL's path", async () => {
    built.add("built");
    const probe = probeWith({ buildApiUrl: `${url}asu/` });
    expect(await probe("built")).toBe(true);
    expect(await probe("unknown")).toBe(false);
    expect(seen).toEqual([
      "POST /asu/api/v1/build-cache built",
      "POST /asu/api/v1/build-cache unknown",
    ]);
  });

  it("asks about the hashes of prepares that arrive together in one request", async () => {
    built.add("b");
    const probe = probeWith();
    expect(await Promise.all(["a", "b", "c"].map((hash) => probe(hash)))).toEqual([
      false,
      true,
      false,
    ]);
    expect(seen).toEqual([`${ASK} a,b,c`]);
  });

  it("gathers hashes that come while its requests are out, up to maxBatch, for the next", async () => {
    built.add("c");
    built.add("d");
    const probe = probeWith({ maxInFlight: 1, maxBatch: 2 });
    const first = probe("held-a");
    await expect.poll(() => seen.length).toBe(1);
    const next = ["b", "c", "d"].map((hash) => probe(hash));
    release("held-a");
    expect(await first).toBe(false);
    // d came when a request was out and the next one full: answered without asking.
    expect(await Promise.all(next)).toEqual([false, true, false]);
    expect(seen).toEqual([`${ASK} held-a`, `${ASK} b,c`]);
    expect(await probe("d")).toBe(true);
  });

  it("sends the hashes gathered meanwhile as soon as the request out returns", async () => {
    const probe = probeWith({ maxInFlight: 1 });
    const first = probe("held-a");
    await expect.poll(() => seen.length).toBe(1);
    const b = probe("b");
    await new Promise((resolve) => setImmediate(resolve));
    const c = probe("c");
    release("held-a");
    expect(await Promise.all([first, b, c])).toEqual([false, false, false]);
    expect(seen).toEqual([`${ASK} held-a`, `${ASK} b,c`]);
    // Idle again: asked at once, alone.
    expect(await probe("d")).toBe(false);
    expect(seen).toEqual([`${ASK} held-a`, `${ASK} b,c`, `${ASK} d`]);
  });

  it("asks once for concurrent probes of one hash", async () => {
    built.add("held-1");
    const probe = probeWith({ answerWithinMs: 60_000 });
    const answers = Array.from({ length: 20 }, () => probe("held-1"));
    await expect.poll(() => seen.length).toBe(1);
    release("held-1");
    expect(await Promise.all(answers)).toEqual(Array(20).fill(true));
    expect(seen).toEqual([`${ASK} held-1`]);
  });

  it("keeps answers briefly: built longer than not built", async () => {
    let now = 1_000_000;
    const probe = probeWith({ builtTtlMs: 60_000, notBuiltTtlMs: 1000, now: () => now });
    built.add("a");
    expect(await probe("a")).toBe(true);
    expect(await probe("b")).toBe(false);
    built.add("b");
    expect([await probe("a"), await probe("b")]).toEqual([true, false]);
    expect(seen).toHaveLength(2);

    now += 1500;
    // "not built" is asked again and is now built; "built" is still believed.
    expect([await probe("a"), await probe("b")]).toEqual([true, true]);
    expect(seen).toEqual([`${ASK} a`, `${ASK} b`, `${ASK} b`]);

    now += 60_000;
    built.delete("a");
    expect(await probe("a")).toBe(false);
    expect(seen).toHaveLength(4);
  });

  it("remembers a bounded number of hashes", async () => {
    const probe = probeWith({ maxEntries: 2 });
    for (const hash of ["a", "b", "c", "a"]) await probe(hash);
    expect(seen).toHaveLength(4);
  });

  it("keeps its connection to the build tier alive", async () => {
    const probe = probeWith({ connections: 1 });
    for (let index = 0; index < 10; index++) await probe(`hash-${index}`);
    expect(seen).toHaveLength(10);
    expect(connections).toBe(1);
  });

  it("answers false when the build tier is slow, and keeps its later answer", async () => {
    built.add("held-slow");
    const probe = probeWith({ answerWithinMs: 20 });
    expect(await probe("held-slow")).toBe(false);
    // Answered although the build tier has not answered (it answers only on release).
    await expect.poll(() => held.has("held-slow")).toBe(true);
    // Asked again meanwhile: no second request.
    expect(await probe("held-slow")).toBe(false);
    release("held-slow");
    await expect.poll(() => probe("held-slow")).toBe(true);
    expect(seen).toEqual([`${ASK} held-slow`]);
  });

  it("gives up on a request after timeoutMs", async () => {
    built.add("held-stuck");
    const probe = probeWith({ answerWithinMs: 10, timeoutMs: 100, notBuiltTtlMs: 0 });
    expect(await probe("held-stuck")).toBe(false);
    // After the timeout the hash is asked afresh: the first request was abandoned.
    await expect
      .poll(() => {
        void probe("held-stuck");
        return seen.length;
      })
      .toBe(2);
  });

  it("asks a bounded number of requests and hashes at once; past that, false without asking", async () => {
    const probe = probeWith({ maxInFlight: 1, maxBatch: 1, answerWithinMs: 10 });
    expect(await probe("held-a")).toBe(false);
    // Waits for the next request.
    expect(await probe("held-b")).toBe(false);
    // Neither out nor waiting: not asked.
    expect(await probe("c")).toBe(false);
    await expect.poll(() => seen.length).toBe(1);
    release("held-a");
    await expect.poll(() => seen.length).toBe(2);
    release("held-b");
    built.add("c");
    await expect.poll(() => probe("c")).toBe(true);
    expect(seen).toEqual([`${ASK} held-a`, `${ASK} held-b`, `${ASK} c`]);
  });

  it("is false for every hash of a request the build tier refuses or answers oddly", async () => {
    const answers: (() => Promise<Record<string, boolean>>)[] = [
      async () => {
        throw new Error("refused");
      },
      async () => "yes" as unknown as Record<string, boolean>,
    ];
    const probe = probeWith({
      buildApiUrl: undefined,
      inProcess: {
        lookup: () => (answers.shift() as () => Promise<Record<string, boolean>>)(),
      },
    });
    expect(await probe("a")).toBe(false);
    expect(await probe("b")).toBe(false);
  });

  it("asks only POST /api/v1/build-cache, never for a list of builds", async () => {
    const probe = probeWith();
    built.add("yes");
    expect(await probe("yes")).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(seen).toEqual([`${ASK} yes`]);
    expect(gets).toBe(0);
  });

  it("is false when the build tier is down or not configured", async () => {
    const down = createBuildCacheProbe({ buildApiUrl: "http://127.0.0.1:1" });
    expect(await down("built")).toBe(false);
    await down.close?.();
    expect(await createBuildCacheProbe({ buildApiUrl: undefined })("built")).toBe(false);
  });

  it("calls a build tier in the same process directly", async () => {
    const asked: string[] = [];
    const probe = probeWith({
      buildApiUrl: undefined,
      inProcess: {
        lookup: async (hashes) => {
          asked.push(hashes.join(","));
          return Object.fromEntries(hashes.map((hash) => [hash, hash === "yes"]));
        },
      },
    });
    expect(await Promise.all([probe("yes"), probe("no")])).toEqual([true, false]);
    expect(asked).toEqual(["yes,no"]);
    expect(seen).toEqual([]);
  });
});
