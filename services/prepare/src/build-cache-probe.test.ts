import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type BuildCacheProbe, createBuildCacheProbe } from "./build-cache-probe.ts";

/** A stand-in build tier: 200 for built hashes, 404 else; `held` hashes wait for release(). */
let server: Server;
let url: string;
let seen: string[];
let connections: number;
const built = new Set<string>();
const held = new Map<string, ServerResponse[]>();
const probes: BuildCacheProbe[] = [];

function answer(res: ServerResponse, hash: string) {
  res.writeHead(built.has(hash) ? 200 : 404).end();
}

function release(hash: string) {
  for (const res of held.get(hash) ?? []) answer(res, hash);
  held.delete(hash);
}

function probeWith(options: Partial<Parameters<typeof createBuildCacheProbe>[0]> = {}) {
  // Answers are awaited in full unless a test is about the wait: a loaded machine may be slow.
  const probe = createBuildCacheProbe({ buildApiUrl: url, answerWithinMs: 60_000, ...options });
  probes.push(probe);
  return probe;
}

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const hash = req.url?.split("/").pop() ?? "";
    if (hash.startsWith("held")) {
      held.set(hash, [...(held.get(hash) ?? []), res]);
      return;
    }
    answer(res, hash);
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

describe("createBuildCacheProbe", () => {
  it("is true only for a finished build (200), asking HEAD under the URL's path", async () => {
    built.add("built");
    const probe = probeWith({ buildApiUrl: `${url}asu/` });
    expect(await probe("built")).toBe(true);
    expect(await probe("unknown")).toBe(false);
    expect(seen).toEqual(["HEAD /asu/api/v1/build/built", "HEAD /asu/api/v1/build/unknown"]);
  });

  it("asks once for concurrent probes of one hash", async () => {
    built.add("held-1");
    const probe = probeWith({ answerWithinMs: 60_000 });
    const answers = Array.from({ length: 20 }, () => probe("held-1"));
    await expect.poll(() => seen.length).toBe(1);
    release("held-1");
    expect(await Promise.all(answers)).toEqual(Array(20).fill(true));
    expect(seen).toEqual(["HEAD /api/v1/build/held-1"]);
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
    expect(seen).toEqual(["HEAD /api/v1/build/a", "HEAD /api/v1/build/b", "HEAD /api/v1/build/b"]);

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
    expect(seen).toEqual(["HEAD /api/v1/build/held-slow"]);
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

  it("asks about a bounded number of hashes at once; past that, false without asking", async () => {
    const probe = probeWith({ maxInFlight: 2, answerWithinMs: 10 });
    await probe("held-a");
    await probe("held-b");
    expect(await probe("c")).toBe(false);
    await expect.poll(() => seen.length).toBe(2);
    release("held-a");
    release("held-b");
    built.add("c");
    await expect.poll(() => probe("c")).toBe(true);
  });

  it("is false when the build tier is down or not configured", async () => {
    const down = createBuildCacheProbe({ buildApiUrl: "http://127.0.0.1:1" });
    expect(await down("built")).toBe(false);
    await down.close?.();
    expect(await createBuildCacheProbe({ buildApiUrl: undefined })("built")).toBe(false);
  });

  it("asks a build tier in the same process through its fetch", async () => {
    const asked: string[] = [];
    const probe = probeWith({
      buildApiUrl: "http://build.internal",
      fetch: async (target, init) => {
        asked.push(`${init.method} ${target}`);
        return new Response(null, { status: target.endsWith("/yes") ? 200 : 404 });
      },
    });
    expect([await probe("yes"), await probe("no")]).toEqual([true, false]);
    expect(asked).toEqual([
      "HEAD http://build.internal/api/v1/build/yes",
      "HEAD http://build.internal/api/v1/build/no",
    ]);
    expect(seen).toEqual([]);
  });
});
