import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type FakeUpstream,
  type FakeUpstreamDownMode,
  startFakeUpstream,
} from "../../../test/support/fake-upstream.ts";
import {
  createMetadataClient,
  type MetadataClient,
  type MetadataClientOptions,
} from "./metadata-client.ts";
import { describeFetchFailure, UpstreamUnavailableError } from "./upstream-errors.ts";

const FIXTURES = new URL("../../../test/fixtures/upstream/", import.meta.url);
const fixtureText = (path: string) => readFileSync(new URL(path, FIXTURES), "utf8");

const VERSIONS = {
  stable_version: "24.10.0",
  oldstable_version: "23.05.5",
  upcoming_version: "25.12.0-rc1",
  versions_list: ["1.2.3", "22.03.7", "23.05.5", "24.10.0"],
};
const TARGETS_1_2_3 = { "testtarget/testsubtarget": "testarch" };

let upstream: FakeUpstream;
let warnings: { obj: object; msg: string | undefined }[];

function client(options: Partial<MetadataClientOptions> = {}): MetadataClient {
  return createMetadataClient({
    upstreamUrl: upstream.url,
    logger: { warn: (obj, msg) => warnings.push({ obj, msg }) },
    ...options,
  });
}

async function rejection(promise: Promise<unknown>): Promise<UpstreamUnavailableError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(UpstreamUnavailableError);
  return error as UpstreamUnavailableError;
}

beforeEach(async () => {
  upstream = await startFakeUpstream();
  warnings = [];
});

afterEach(async () => {
  await upstream.close();
});

describe("reading", () => {
  it("parses JSON from {upstreamUrl}/{path}", async () => {
    const metadata = client();
    expect(await metadata.getJson(".versions.json")).toEqual(VERSIONS);
    expect(await metadata.getJson("releases/1.2.3/.targets.json")).toEqual(TARGETS_1_2_3);
    expect(upstream.requests.map((request) => [request.method, request.path])).toEqual([
      ["GET", "/.versions.json"],
      ["GET", "/releases/1.2.3/.targets.json"],
    ]);
  });

  it("returns text files unchanged", async () => {
    const path = "snapshots/packages/testarch/base/Packages";
    expect(await client().getText(path)).toBe(fixtureText(path));
  });

  it("joins a trailing slash on the URL and a leading slash on the path into one", async () => {
    const metadata = client({ upstreamUrl: `${upstream.url}//` });
    expect(await metadata.getJson("/.versions.json")).toEqual(VERSIONS);
    expect(upstream.requests.map((request) => request.path)).toEqual(["/.versions.json"]);
  });

  it("percent-encodes path segments", async () => {
    upstream.addFile("odd name#1?.txt", "odd");
    expect(await client().getText("odd name#1?.txt")).toBe("odd");
    expect(upstream.requests.map((request) => request.path)).toEqual(["/odd%20name%231%3F.txt"]);
  });

  it.each([
    "../secret",
    "releases/../.versions.json",
    "releases/./x.json",
    "releases//x.json",
    "releases/",
    "",
    "a\\b",
  ])("refuses the path %j without asking upstream", async (path) => {
    const metadata = client();
    await expect(metadata.getJson(path)).rejects.toThrow(TypeError);
    await expect(metadata.getText(path)).rejects.toThrow(
      `Invalid upstream metadata path: ${JSON.stringify(path)}`,
    );
    expect(upstream.requests).toEqual([]);
  });

  it("hands out deep-frozen JSON, because every caller shares it", async () => {
    const versions = await client().getJson<typeof VERSIONS>(".versions.json");
    expect(Object.isFrozen(versions)).toBe(true);
    expect(Object.isFrozen(versions?.versions_list)).toBe(true);
    expect(() => versions?.versions_list.push("x")).toThrow(TypeError);
  });

  it("returns undefined on 404", async () => {
    const metadata = client();
    expect(await metadata.getJson("releases/9.9.9/.targets.json")).toBeUndefined();
    expect(await metadata.getText("releases/9.9.9/Packages")).toBeUndefined();
  });
});

describe("caching", () => {
  it("answers a second read from the cache without a request", async () => {
    const metadata = client();
    const first = await metadata.getJson(".versions.json");
    const second = await metadata.getJson(".versions.json");
    expect(second).toBe(first);
    expect(upstream.requests).toHaveLength(1);
    expect(metadata.stats()).toEqual({ fetches: 1, failures: 0, hits: 1 });
  });

  it("caches a 404 as absent, and refresh asks again unconditionally", async () => {
    const metadata = client();
    const path = "releases/25.12.0/.targets.json";
    expect(await metadata.getJson(path)).toBeUndefined();
    expect(await metadata.getJson(path)).toBeUndefined();
    expect(upstream.requests).toHaveLength(1);

    expect(await metadata.getJson(path, { refresh: true })).toBeUndefined();
    expect(upstream.requests).toHaveLength(2);
    expect(upstream.requests[1]?.headers["if-none-match"]).toBeUndefined();
    expect(upstream.requests[1]?.headers["if-modified-since"]).toBeUndefined();
  });

  it("refresh sends a conditional request and a 304 keeps the cached body", async () => {
    const metadata = client();
    const first = await metadata.getJson(".versions.json");
    const served = await fetch(`${upstream.url}/.versions.json`);
    const etag = served.headers.get("etag");
    const lastModified = served.headers.get("last-modified");
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);

    const refreshed = await metadata.getJson(".versions.json", { refresh: true });
    expect(refreshed).toBe(first);
    const conditional = upstream.requestsFor("/.versions.json")[2];
    expect(conditional?.headers["if-none-match"]).toBe(etag);
    expect(conditional?.headers["if-modified-since"]).toBe(lastModified);
    expect(metadata.stats()).toEqual({ fetches: 2, failures: 0, hits: 0 });
  });

  it("revalidates with If-Modified-Since alone when upstream sends no ETag", async () => {
    await upstream.close();
    upstream = await startFakeUpstream({ etags: false });
    const metadata = client();
    const first = await metadata.getJson(".versions.json");
    expect(await metadata.getJson(".versions.json", { refresh: true })).toBe(first);
    const conditional = upstream.requests[1];
    expect(conditional?.headers["if-none-match"]).toBeUndefined();
    expect(conditional?.headers["if-modified-since"]).toMatch(/ GMT$/);
  });

  it("refresh picks up a changed file", async () => {
    const metadata = client();
    expect(await metadata.getJson("releases/1.2.3/.targets.json")).toEqual(TARGETS_1_2_3);
    const changed = { ...TARGETS_1_2_3, "x86/64": "x86_64" };
    upstream.addFile("releases/1.2.3/.targets.json", JSON.stringify(changed));

    expect(await metadata.getJson("releases/1.2.3/.targets.json")).toEqual(TARGETS_1_2_3);
    expect(await metadata.getJson("releases/1.2.3/.targets.json", { refresh: true })).toEqual(
      changed,
    );
    expect(await metadata.getJson("releases/1.2.3/.targets.json")).toEqual(changed);
    expect(upstream.requests).toHaveLength(2);
  });

  it("finds a file added later only on refresh", async () => {
    const metadata = client();
    const path = "releases/25.12.0/.targets.json";
    expect(await metadata.getJson(path)).toBeUndefined();
    upstream.addFile(path, '{"ath79/generic":"mips_24kc"}');

    expect(await metadata.getJson(path)).toBeUndefined();
    expect(await metadata.getJson(path, { refresh: true })).toEqual({
      "ath79/generic": "mips_24kc",
    });
    expect(await metadata.getJson(path)).toEqual({ "ath79/generic": "mips_24kc" });
    expect(upstream.requests).toHaveLength(2);
  });

  it("forgets a file upstream removed once it refreshes", async () => {
    const metadata = client();
    expect(await metadata.getJson("releases/1.2.3/.targets.json")).toEqual(TARGETS_1_2_3);
    upstream.removeFile("releases/1.2.3/.targets.json");
    expect(await metadata.getJson("releases/1.2.3/.targets.json", { refresh: true })).toBe(
      undefined,
    );
  });

  it("revalidates an entry older than ttlMs conditionally on next use", async () => {
    let clock = 0;
    const metadata = client({ ttlMs: 50, now: () => clock });
    const first = await metadata.getJson(".versions.json");
    expect(await metadata.getJson(".versions.json")).toBe(first);
    expect(upstream.requests).toHaveLength(1);

    clock += 50;
    expect(await metadata.getJson(".versions.json")).toBe(first);
    expect(upstream.requests).toHaveLength(2);
    expect(upstream.requests[1]?.headers["if-none-match"]).toMatch(/^"[0-9a-f]{32}"$/);

    const changed = { ...VERSIONS, stable_version: "24.10.1" };
    upstream.addFile(".versions.json", JSON.stringify(changed));
    clock += 50;
    expect(await metadata.getJson(".versions.json")).toEqual(changed);
    expect(metadata.stats()).toEqual({ fetches: 3, failures: 0, hits: 1 });
  });

  it("re-asks for an absent file once ttlMs has passed", async () => {
    let clock = 0;
    const metadata = client({ ttlMs: 50, now: () => clock });
    expect(await metadata.getJson("late.json")).toBeUndefined();
    upstream.addFile("late.json", "[1]");
    clock += 49;
    expect(await metadata.getJson("late.json")).toBeUndefined();
    clock += 1;
    expect(await metadata.getJson("late.json")).toEqual([1]);
  });

  it("keeps JSON and text reads of one path apart", async () => {
    const metadata = client();
    expect(await metadata.getText("releases/1.2.3/.targets.json")).toBe(
      fixtureText("releases/1.2.3/.targets.json"),
    );
    expect(await metadata.getJson("releases/1.2.3/.targets.json")).toEqual(TARGETS_1_2_3);
  });

  it("clear() drops every entry, so the next read is unconditional", async () => {
    const metadata = client();
    await metadata.getJson(".versions.json");
    metadata.clear();
    expect(await metadata.getJson(".versions.json")).toEqual(VERSIONS);
    expect(upstream.requests).toHaveLength(2);
    expect(upstream.requests[1]?.headers["if-none-match"]).toBeUndefined();
  });

  it("does not let a fetch under way during clear() repopulate the cache", async () => {
    const metadata = client();
    const pending = metadata.getJson(".versions.json");
    metadata.clear();
    expect(await pending).toEqual(VERSIONS);
    await metadata.getJson(".versions.json");
    expect(upstream.requests).toHaveLength(2);
  });

  it("evicts the least recently used entry beyond maxEntries", async () => {
    const metadata = client({ maxEntries: 2 });
    await metadata.getJson("releases/1.2.3/.targets.json");
    await metadata.getJson("releases/23.05.5/.targets.json");
    await metadata.getJson("releases/1.2.3/.targets.json");
    await metadata.getJson("releases/24.10.0/.targets.json");
    expect(upstream.requests).toHaveLength(3);

    await metadata.getJson("releases/1.2.3/.targets.json");
    expect(upstream.requests).toHaveLength(3);
    await metadata.getJson("releases/23.05.5/.targets.json");
    expect(upstream.requests).toHaveLength(4);
  });
});

describe("concurrency", () => {
  it("coalesces concurrent reads of one path into one request", async () => {
    const metadata = client();
    const results = await Promise.all(
      Array.from({ length: 5 }, () => metadata.getJson(".versions.json")),
    );
    expect(upstream.requests).toHaveLength(1);
    for (const result of results) expect(result).toBe(results[0]);
    expect(results[0]).toEqual(VERSIONS);
  });

  it("coalesces concurrent refreshes too", async () => {
    const metadata = client();
    await metadata.getJson(".versions.json");
    await Promise.all([
      metadata.getJson(".versions.json", { refresh: true }),
      metadata.getJson(".versions.json", { refresh: true }),
      metadata.getJson(".versions.json"),
    ]);
    expect(upstream.requests).toHaveLength(2);
  });

  it("shares one failure between concurrent readers", async () => {
    await upstream.setDown(true, "status503");
    const metadata = client();
    const failures = await Promise.all(
      Array.from({ length: 3 }, () => rejection(metadata.getJson(".versions.json"))),
    );
    expect(upstream.requests).toHaveLength(1);
    for (const failure of failures) expect(failure).toBe(failures[0]);
    expect(metadata.stats()).toEqual({ fetches: 1, failures: 1, hits: 0 });
  });
});

describe("upstream down with nothing cached", () => {
  it.each<[FakeUpstreamDownMode, RegExp]>([
    ["refuse", /^connection refused$/],
    ["reset", /^connection (reset|closed by upstream)$/],
    ["status503", /^HTTP 503$/],
  ])("%s → UpstreamUnavailableError naming the URL and cause", async (mode, reason) => {
    await upstream.setDown(true, mode);
    const metadata = client();
    const url = `${upstream.url}/.versions.json`;
    const error = await rejection(metadata.getJson(".versions.json"));
    expect(error.url).toBe(url);
    expect(error.reason).toMatch(reason);
    expect(error.message).toBe(`Upstream metadata unavailable: ${url} (${error.reason})`);
    expect(error.message).not.toContain("\n");
    expect(metadata.stats()).toEqual({ fetches: 1, failures: 1, hits: 0 });
  });

  it("times out a hanging upstream after timeoutMs", async () => {
    await upstream.setDown(true, "hang");
    const metadata = client({ timeoutMs: 200 });
    const started = Date.now();
    const error = await rejection(metadata.getText("snapshots/.targets.json"));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(error.message).toBe(
      `Upstream metadata unavailable: ${upstream.url}/snapshots/.targets.json (timed out after 200 ms)`,
    );
    expect(upstream.requests).toHaveLength(1);
  });

  it("treats invalid JSON as unavailable, while the same file reads fine as text", async () => {
    upstream.addFile("broken.json", "<html>oops</html>");
    const metadata = client();
    const error = await rejection(metadata.getJson("broken.json"));
    expect(error.message).toBe(
      `Upstream metadata unavailable: ${upstream.url}/broken.json (invalid JSON)`,
    );
    expect(await metadata.getText("broken.json")).toBe("<html>oops</html>");
  });

  it("does not cache a failure: the next read asks again and can succeed", async () => {
    await upstream.setDown(true, "status503");
    const metadata = client();
    await rejection(metadata.getJson(".versions.json"));
    await upstream.setDown(false);
    expect(await metadata.getJson(".versions.json")).toEqual(VERSIONS);
    expect(metadata.stats()).toEqual({ fetches: 2, failures: 1, hits: 0 });
  });
});

describe("upstream down with a warm cache", () => {
  it.each<FakeUpstreamDownMode>(["refuse", "reset", "status503", "hang"])(
    "%s → the stale body is served on refresh, with a warning",
    async (mode) => {
      // Long enough for the first read on a loaded machine; "hang" waits it out.
      const metadata = client({ timeoutMs: 1_000 });
      const cached = await metadata.getJson(".versions.json");
      await upstream.setDown(true, mode);

      expect(await metadata.getJson(".versions.json", { refresh: true })).toBe(cached);
      expect(metadata.stats()).toEqual({ fetches: 2, failures: 1, hits: 0 });
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.msg).toBe("upstream metadata unavailable, serving cached copy");
      expect(warnings[0]?.obj).toMatchObject({ url: `${upstream.url}/.versions.json` });
    },
  );

  it("serves a stale absent entry as absent", async () => {
    const metadata = client();
    expect(await metadata.getJson("missing.json")).toBeUndefined();
    await upstream.setDown(true, "status503");
    expect(await metadata.getJson("missing.json", { refresh: true })).toBeUndefined();
    expect(warnings).toHaveLength(1);
  });

  it("serves the stale body after ttl expiry, then waits failureBackoffMs before asking again", async () => {
    let clock = 0;
    const metadata = client({ ttlMs: 30, failureBackoffMs: 150, now: () => clock });
    const cached = await metadata.getJson(".versions.json");
    await upstream.setDown(true, "status503");
    clock += 30;

    expect(await metadata.getJson(".versions.json")).toBe(cached);
    expect(warnings[0]?.obj).toMatchObject({ reason: "HTTP 503" });
    expect(await metadata.getJson(".versions.json")).toBe(cached);
    expect(upstream.requests).toHaveLength(2);

    await upstream.setDown(false);
    clock += 149;
    expect(await metadata.getJson(".versions.json")).toBe(cached);
    expect(upstream.requests).toHaveLength(2);
    clock += 1;
    expect(await metadata.getJson(".versions.json")).toBe(cached);
    expect(upstream.requests).toHaveLength(3);
    expect(metadata.stats()).toEqual({ fetches: 3, failures: 1, hits: 2 });
  });

  it("keeps the last good JSON when upstream starts serving garbage", async () => {
    const metadata = client();
    const cached = await metadata.getJson(".versions.json");
    upstream.addFile(".versions.json", "{truncated");
    expect(await metadata.getJson(".versions.json", { refresh: true })).toBe(cached);
    expect(warnings[0]?.obj).toMatchObject({ reason: "invalid JSON" });
  });
});

describe("describeFetchFailure", () => {
  const wrapped = (cause: unknown) => new TypeError("fetch failed", { cause });
  const coded = (code: string) => Object.assign(new Error(`boom ${code}`), { code });

  it.each<[string, unknown, string]>([
    [
      "a timeout",
      new DOMException("The operation was aborted due to timeout", "TimeoutError"),
      "timed out after 1234 ms",
    ],
    ["an abort", new DOMException("This operation was aborted", "AbortError"), "request aborted"],
    ["a refused connection", wrapped(coded("ECONNREFUSED")), "connection refused"],
    [
      "a code inside an AggregateError",
      wrapped(new AggregateError([new Error("no code"), coded("ECONNREFUSED")], "all failed")),
      "connection refused",
    ],
    ["a DNS failure", wrapped(coded("ENOTFOUND")), "host not found"],
    ["an undici socket error", wrapped(coded("UND_ERR_SOCKET")), "connection closed by upstream"],
    ["an unknown code", wrapped(coded("EWHATEVER")), "network error (EWHATEVER)"],
    ["no code", wrapped(new Error("first line\n    at somewhere (file.js:1:1)")), "first line"],
    ["a bare string", "weird", "request failed"],
  ])("describes %s", (_name, error, expected) => {
    expect(describeFetchFailure(error, 1234)).toBe(expected);
  });

  it("caps a long message", () => {
    const reason = describeFetchFailure(new Error("x".repeat(500)), 1);
    expect(reason).toHaveLength(200);
    expect(reason.endsWith("…")).toBe(true);
  });
});
