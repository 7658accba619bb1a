import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FakeUpstream, startFakeUpstream } from "./fake-upstream.ts";

const FIXTURES = new URL("../fixtures/upstream/", import.meta.url);
const fixtureText = (path: string) => readFileSync(new URL(path, FIXTURES), "utf8");

/** Sends the path byte for byte; fetch would normalise `..` away before it reaches the server. */
function rawGet(base: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${base}/`, { path, agent: false }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        body += chunk;
      });
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on("error", reject);
    request.end();
  });
}

let upstream: FakeUpstream;

beforeEach(async () => {
  upstream = await startFakeUpstream();
});

afterEach(async () => {
  await upstream.close();
});

describe("serving the fixture tree", () => {
  it("serves files with validators and a content type", async () => {
    expect(upstream.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const response = await fetch(`${upstream.url}/releases/1.2.3/.targets.json`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(fixtureText("releases/1.2.3/.targets.json"));
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(response.headers.get("etag")).toMatch(/^"[0-9a-f]{32}"$/);
    expect(Date.parse(response.headers.get("last-modified") ?? "")).not.toBeNaN();

    const packages = await fetch(`${upstream.url}/snapshots/packages/testarch/base/Packages`);
    expect(packages.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(await packages.text()).toBe(fixtureText("snapshots/packages/testarch/base/Packages"));
  });

  it("logs every request with method, path and headers", async () => {
    await fetch(`${upstream.url}/.versions.json?x=1`, { headers: { "x-test": "yes" } });
    await fetch(`${upstream.url}/nothing`, { method: "HEAD" });
    expect(upstream.requests.map(({ method, path }) => [method, path])).toEqual([
      ["GET", "/.versions.json"],
      ["HEAD", "/nothing"],
    ]);
    expect(upstream.requests[0]?.headers["x-test"]).toBe("yes");
    expect(upstream.requestsFor("/nothing")).toHaveLength(1);
  });

  it("answers 404 for missing files and directories, 405 for other methods", async () => {
    expect((await fetch(`${upstream.url}/releases/9.9.9/.targets.json`)).status).toBe(404);
    expect((await fetch(`${upstream.url}/releases/1.2.3`)).status).toBe(404);
    expect((await fetch(`${upstream.url}/`)).status).toBe(404);
    const post = await fetch(`${upstream.url}/.versions.json`, { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
  });

  it("answers HEAD with headers only", async () => {
    const response = await fetch(`${upstream.url}/.versions.json`, { method: "HEAD" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-length")).toBe(
      String(Buffer.byteLength(fixtureText(".versions.json"))),
    );
    expect(await response.text()).toBe("");
  });

  it.each([
    "/../package.json",
    "/../../package.json",
    "/releases/../../package.json",
    "/%2e%2e/%2e%2e/package.json",
    "/releases/..%2f..%2f..%2fpackage.json",
    "/releases%2f1.2.3%2f.targets.json",
    "/releases/1.2.3/..%5c..%5c.versions.json",
    "/%00.versions.json",
    "/%E0%A4%A.json",
  ])("does not let %s out of the root", async (path) => {
    expect(await rawGet(upstream.url, path)).toEqual({ status: 404, body: "Not Found" });
  });

  it("does not follow a symlink out of the root", async () => {
    const outside = mkdtempSync(join(tmpdir(), "fake-upstream-outside-"));
    const root = mkdtempSync(join(tmpdir(), "fake-upstream-root-"));
    try {
      writeFileSync(join(outside, "secret.txt"), "secret");
      writeFileSync(join(root, "inside.txt"), "inside");
      symlinkSync(join(outside, "secret.txt"), join(root, "link.txt"));
      const custom = await startFakeUpstream({ root });
      try {
        expect(await (await fetch(`${custom.url}/inside.txt`)).text()).toBe("inside");
        expect((await fetch(`${custom.url}/link.txt`)).status).toBe(404);
      } finally {
        await custom.close();
      }
    } finally {
      rmSync(outside, { recursive: true, force: true });
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("conditional requests", () => {
  async function validators(path: string) {
    const response = await fetch(`${upstream.url}${path}`);
    await response.arrayBuffer();
    return {
      etag: response.headers.get("etag") ?? "",
      lastModified: response.headers.get("last-modified") ?? "",
    };
  }

  it("answers 304 to a matching If-None-Match, with the validators and no body", async () => {
    const { etag, lastModified } = await validators("/.versions.json");
    for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
      const response = await fetch(`${upstream.url}/.versions.json`, {
        headers: { "if-none-match": ifNoneMatch },
      });
      expect(response.status).toBe(304);
      expect(response.headers.get("etag")).toBe(etag);
      expect(response.headers.get("last-modified")).toBe(lastModified);
      expect(await response.text()).toBe("");
    }
  });

  it("lets a mismatching If-None-Match win over a matching If-Modified-Since", async () => {
    const { lastModified } = await validators("/.versions.json");
    const response = await fetch(`${upstream.url}/.versions.json`, {
      headers: { "if-none-match": '"stale"', "if-modified-since": lastModified },
    });
    expect(response.status).toBe(200);
  });

  it("uses If-Modified-Since alone at one-second precision", async () => {
    upstream.addFile("dated.txt", "v1", { lastModified: new Date("2025-01-02T03:04:05.678Z") });
    const ask = async (since: string) =>
      (await fetch(`${upstream.url}/dated.txt`, { headers: { "if-modified-since": since } }))
        .status;
    expect(await ask("Thu, 02 Jan 2025 03:04:05 GMT")).toBe(304);
    expect(await ask("Thu, 02 Jan 2025 03:05:00 GMT")).toBe(304);
    expect(await ask("Thu, 02 Jan 2025 03:04:04 GMT")).toBe(200);
    expect(await ask("not a date")).toBe(200);
    const response = await fetch(`${upstream.url}/dated.txt`);
    expect(response.headers.get("last-modified")).toBe("Thu, 02 Jan 2025 03:04:05 GMT");
  });

  it("changes the ETag when the content changes", async () => {
    const before = await validators("/.versions.json");
    upstream.addFile(".versions.json", "{}");
    const response = await fetch(`${upstream.url}/.versions.json`, {
      headers: { "if-none-match": before.etag },
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("{}");
    expect(response.headers.get("etag")).not.toBe(before.etag);
  });

  it("can leave out either validator", async () => {
    const bare = await startFakeUpstream({ etags: false, lastModified: false });
    try {
      const response = await fetch(`${bare.url}/.versions.json`);
      expect(response.headers.get("etag")).toBeNull();
      expect(response.headers.get("last-modified")).toBeNull();
      const conditional = await fetch(`${bare.url}/.versions.json`, {
        headers: { "if-none-match": "*" },
      });
      expect(conditional.status).toBe(200);
    } finally {
      await bare.close();
    }
  });
});

describe("overlays", () => {
  it("adds, replaces and removes files without touching the disk", async () => {
    upstream.addFile("/releases/25.12.0/.targets.json", '{"a/b":"c"}');
    expect(await (await fetch(`${upstream.url}/releases/25.12.0/.targets.json`)).text()).toBe(
      '{"a/b":"c"}',
    );
    upstream.addFile("releases/1.2.3/.targets.json", new TextEncoder().encode("{}"));
    expect(await (await fetch(`${upstream.url}/releases/1.2.3/.targets.json`)).text()).toBe("{}");

    upstream.removeFile("releases/1.2.3/.targets.json");
    upstream.removeFile("releases/25.12.0/.targets.json");
    expect((await fetch(`${upstream.url}/releases/1.2.3/.targets.json`)).status).toBe(404);
    expect((await fetch(`${upstream.url}/releases/25.12.0/.targets.json`)).status).toBe(404);
    expect(fixtureText("releases/1.2.3/.targets.json")).toContain("testtarget/testsubtarget");
  });

  it.each(["../x", "a//b", "a/./b", ""])("refuses the overlay path %j", (path) => {
    expect(() => upstream.addFile(path, "x")).toThrow(TypeError);
    expect(() => upstream.removeFile(path)).toThrow(TypeError);
  });
});

describe("down modes", () => {
  const get = () => fetch(`${upstream.url}/.versions.json`);
  const causeCode = async () =>
    get().then(
      () => "answered",
      (error: { cause?: { code?: string } }) => error.cause?.code,
    );

  it("refuse: the port stops listening, and comes back on the same URL", async () => {
    expect((await get()).status).toBe(200);
    await upstream.setDown(true, "refuse");
    expect(await causeCode()).toBe("ECONNREFUSED");
    await upstream.setDown(false);
    expect((await get()).status).toBe(200);
  });

  it("refuse is the default mode", async () => {
    await upstream.setDown(true);
    expect(await causeCode()).toBe("ECONNREFUSED");
  });

  it("reset: connections are dropped before any answer", async () => {
    await upstream.setDown(true, "reset");
    expect(await causeCode()).toMatch(/^(ECONNRESET|UND_ERR_SOCKET)$/);
    expect(upstream.requests).toEqual([]);
    await upstream.setDown(false);
    expect((await get()).status).toBe(200);
  });

  it("status503: every request answers 503 and is logged", async () => {
    await upstream.setDown(true, "status503");
    const response = await get();
    expect(response.status).toBe(503);
    expect(await response.text()).toBe("Service Unavailable");
    expect(upstream.requests).toHaveLength(1);
    await upstream.setDown(false);
    expect((await get()).status).toBe(200);
  });

  it("hang: the request is read and never answered", async () => {
    await upstream.setDown(true, "hang");
    const outcome = await fetch(`${upstream.url}/.versions.json`, {
      signal: AbortSignal.timeout(150),
    }).then(
      () => "answered",
      (error: Error) => error.name,
    );
    expect(outcome).toBe("TimeoutError");
    expect(upstream.requestsFor("/.versions.json")).toHaveLength(1);
  });

  it("close() does not wait for hanging requests", async () => {
    await upstream.setDown(true, "hang");
    const pending = fetch(`${upstream.url}/.versions.json`).catch(() => "failed");
    await expect.poll(() => upstream.requests.length).toBeGreaterThan(0);
    const started = Date.now();
    await upstream.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await pending).toBe("failed");
  });

  it("close() works while refusing", async () => {
    await upstream.setDown(true, "refuse");
    await upstream.close();
  });
});
