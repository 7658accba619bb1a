import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApiApp } from "@asu/http";
import { createLocalStore, createS3Store } from "@asu/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawRequest } from "../../../test/support/raw-request.ts";
import { type S3Server, startS3Server } from "../../../test/support/s3-server.ts";
import { type ServedApp, serveApp } from "../../../test/support/serve-app.ts";
import { silentLogger } from "../../../test/support/silent-logger.ts";
import { registerStoreRoute } from "./store-route.ts";

const silent = silentLogger("store-test");

const HASH = "3d3c0f7a2c5e1b6d9a8f7e6d5c4b3a2918273645546372819a0b1c2d3e4f5a6b";
const OTHER_HASH = "a".repeat(64);
const IMAGE = randomBytes(256 * 1024);
const LARGE = randomBytes(8 * 1024 * 1024 + 17);
const NOT_FOUND = { detail: "Not Found" };

let publicPath: string;
let served: ServedApp;

beforeAll(async () => {
  publicPath = await mkdtemp(join(tmpdir(), "asu-store-route-"));
  const build = join(publicPath, "store", HASH);
  await mkdir(join(build, "sub", "dir"), { recursive: true });
  await writeFile(join(build, "openwrt-sysupgrade.bin"), IMAGE);
  await writeFile(join(build, "large.img"), LARGE);
  await writeFile(join(build, "empty.txt"), "");
  await writeFile(join(build, "name with spaces & #.txt"), "odd name");
  await writeFile(join(build, "sub", "dir", "profiles.json"), '{"id":"x"}');
  await writeFile(join(publicPath, "secret.txt"), "outside the store");
  await symlink(join(publicPath, "secret.txt"), join(build, "escape-link"));
  await symlink("openwrt-sysupgrade.bin", join(build, "inner-link"));
  await symlink(join(publicPath, "elsewhere"), join(publicPath, "store", OTHER_HASH));
  await mkdir(join(publicPath, "elsewhere"));
  await writeFile(join(publicPath, "elsewhere", "image.bin"), "not a build");

  const app = createApiApp({ title: "test", version: "0.0.0", logger: silent });
  registerStoreRoute(app, { store: createLocalStore(publicPath) });
  served = await serveApp(app);
});

afterAll(async () => {
  await served?.close();
  if (publicPath) await rm(publicPath, { recursive: true, force: true });
});

const url = (file: string, hash = HASH) => `${served.url}/store/${hash}/${file}`;

describe("GET /store/{request_hash}/{file}", () => {
  it("serves a stored file as octet-stream, nosniff, with its length", async () => {
    const res = await fetch(url("openwrt-sysupgrade.bin"));
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(IMAGE)).toBe(true);
    expect(res.headers.get("content-type")).toBe("application/octet-stream");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("content-length")).toBe(String(IMAGE.length));
    expect(res.headers.get("accept-ranges")).toBe("bytes");
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("etag")).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(res.headers.get("last-modified")).toMatch(/ GMT$/);
  });

  it("streams a large file intact", async () => {
    const res = await fetch(url("large.img"));
    expect(res.headers.get("content-length")).toBe(String(LARGE.length));
    const digest = createHash("sha256")
      .update(Buffer.from(await res.arrayBuffer()))
      .digest("hex");
    expect(digest).toBe(createHash("sha256").update(LARGE).digest("hex"));
  });

  it("survives a client that hangs up halfway", async () => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const controller = new AbortController();
      const res = await fetch(url("large.img"), { signal: controller.signal });
      const reader = res.body?.getReader();
      await reader?.read();
      controller.abort();
    }
    const res = await fetch(url("openwrt-sysupgrade.bin"));
    expect(Buffer.from(await res.arrayBuffer()).equals(IMAGE)).toBe(true);
  });

  it("serves files in sub-folders, names needing encoding, empty files and links inside the build", async () => {
    expect(await (await fetch(url("sub/dir/profiles.json"))).text()).toBe('{"id":"x"}');
    expect(await (await fetch(url("name%20with%20spaces%20%26%20%23.txt"))).text()).toBe(
      "odd name",
    );
    const empty = await fetch(url("empty.txt"));
    expect(empty.status).toBe(200);
    expect(empty.headers.get("content-length")).toBe("0");
    expect(await empty.text()).toBe("");
    const linked = await fetch(url("inner-link"));
    expect(Buffer.from(await linked.arrayBuffer()).equals(IMAGE)).toBe(true);
  });

  it("answers HEAD with the headers and no body", async () => {
    const res = await rawRequest(served.url, `/store/${HASH}/openwrt-sysupgrade.bin`, {
      method: "HEAD",
    });
    expect(res.status).toBe(200);
    expect(res.headers["content-length"]).toBe(String(IMAGE.length));
    expect(res.headers["content-type"]).toBe("application/octet-stream");
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    expect(res.headers["access-control-allow-origin"]).toBe("*");
    expect(res.body.length).toBe(0);
  });

  it("answers 404 to HEAD of a missing file", async () => {
    const res = await rawRequest(served.url, `/store/${HASH}/missing.bin`, { method: "HEAD" });
    expect(res.status).toBe(404);
  });

  describe("byte ranges", () => {
    it("serves one range with 206 and Content-Range", async () => {
      const res = await fetch(url("openwrt-sysupgrade.bin"), {
        headers: { range: "bytes=100-199" },
      });
      expect(res.status).toBe(206);
      expect(res.headers.get("content-range")).toBe(`bytes 100-199/${IMAGE.length}`);
      expect(res.headers.get("content-length")).toBe("100");
      expect(Buffer.from(await res.arrayBuffer()).equals(IMAGE.subarray(100, 200))).toBe(true);
    });

    it("serves a suffix range", async () => {
      const res = await fetch(url("openwrt-sysupgrade.bin"), { headers: { range: "bytes=-10" } });
      expect(res.status).toBe(206);
      expect(res.headers.get("content-range")).toBe(
        `bytes ${IMAGE.length - 10}-${IMAGE.length - 1}/${IMAGE.length}`,
      );
      expect(Buffer.from(await res.arrayBuffer()).equals(IMAGE.subarray(-10))).toBe(true);
    });

    it("answers 416 for a range beyond the end", async () => {
      const res = await fetch(url("openwrt-sysupgrade.bin"), {
        headers: { range: `bytes=${IMAGE.length}-` },
      });
      expect(res.status).toBe(416);
      expect(res.headers.get("content-range")).toBe(`bytes */${IMAGE.length}`);
      expect((await res.arrayBuffer()).byteLength).toBe(0);
    });

    it("sends the whole file for several ranges", async () => {
      const res = await fetch(url("openwrt-sysupgrade.bin"), {
        headers: { range: "bytes=0-1,5-6" },
      });
      expect(res.status).toBe(200);
      expect((await res.arrayBuffer()).byteLength).toBe(IMAGE.length);
    });

    it("honours If-Range: a range for the current copy only", async () => {
      const etag = (await fetch(url("openwrt-sysupgrade.bin"))).headers.get("etag") ?? "";
      const current = await fetch(url("openwrt-sysupgrade.bin"), {
        headers: { range: "bytes=0-9", "if-range": etag },
      });
      expect(current.status).toBe(206);
      await current.arrayBuffer();
      const stale = await fetch(url("openwrt-sysupgrade.bin"), {
        headers: { range: "bytes=0-9", "if-range": '"stale"' },
      });
      expect(stale.status).toBe(200);
      expect((await stale.arrayBuffer()).byteLength).toBe(IMAGE.length);
    });
  });

  describe("conditional requests", () => {
    it("answers 304 for a matching If-None-Match", async () => {
      const first = await fetch(url("openwrt-sysupgrade.bin"));
      await first.arrayBuffer();
      const etag = first.headers.get("etag") ?? "";
      const again = await fetch(url("openwrt-sysupgrade.bin"), {
        headers: { "if-none-match": `"other", W/${etag}` },
      });
      expect(again.status).toBe(304);
      expect(again.headers.get("etag")).toBe(etag);
      const changed = await fetch(url("openwrt-sysupgrade.bin"), {
        headers: { "if-none-match": '"other"' },
      });
      expect(changed.status).toBe(200);
      await changed.arrayBuffer();
    });

    it("answers 304 when not modified since", async () => {
      const first = await fetch(url("openwrt-sysupgrade.bin"));
      await first.arrayBuffer();
      const res = await fetch(url("openwrt-sysupgrade.bin"), {
        headers: { "if-modified-since": first.headers.get("last-modified") ?? "" },
      });
      expect(res.status).toBe(304);
      const old = await fetch(url("openwrt-sysupgrade.bin"), {
        headers: { "if-modified-since": "Thu, 01 Jan 1970 00:00:00 GMT" },
      });
      expect(old.status).toBe(200);
      await old.arrayBuffer();
    });
  });

  describe("nothing outside the store", () => {
    it.each([
      `/store/${HASH}/../../secret.txt`,
      `/store/${HASH}/..%2f..%2fsecret.txt`,
      `/store/${HASH}/..%2F..%2Fsecret.txt`,
      `/store/${HASH}/%2e%2e/%2e%2e/secret.txt`,
      `/store/${HASH}/%2E%2E%2F%2E%2E%2Fsecret.txt`,
      `/store/${HASH}/..%5c..%5csecret.txt`,
      // {public} is the folder holding the store, known once it exists.
      `/store/${HASH}/%2f{public-encoded}%2fsecret.txt`,
      `/store/${HASH}/{public-encoded}%2fsecret.txt`,
      `/store/${HASH}//{public}/secret.txt`,
      `/store/..%2fsecret.txt`,
      `/store/%2e%2e/secret.txt`,
      "/store/../secret.txt",
      "/store/secret.txt",
      `/store/${HASH}/escape-link`,
      `/store/${OTHER_HASH}/image.bin`,
      `/store/${HASH.toUpperCase()}/openwrt-sysupgrade.bin`,
      `/store/${HASH}`,
      `/store/${HASH}/`,
      `/store/${HASH}/sub`,
      `/store/${HASH}/sub/dir/`,
      `/store/${HASH}/missing.bin`,
      `/store/${HASH}/openwrt-sysupgrade.bin%00.txt`,
      `/store/${HASH}/openwrt-sysupgrade.bin/x`,
      `/store/${HASH}/%ZZ`,
      "/store/",
    ])("%s → 404", async (template) => {
      const path = template
        .replace("{public-encoded}", encodeURIComponent(publicPath))
        .replace("{public}", publicPath);
      const res = await rawRequest(served.url, path);
      expect(res.status).toBe(404);
      expect(JSON.parse(res.body.toString())).toEqual(NOT_FOUND);
      expect(res.headers["access-control-allow-origin"]).toBe("*");
    });
  });

  it("is documented in the OpenAPI document", async () => {
    const doc = (await (await fetch(`${served.url}/openapi.json`)).json()) as {
      paths: Record<string, { get?: { responses: Record<string, unknown> } }>;
    };
    expect(Object.keys(doc.paths["/store/{request_hash}/{file}"]?.get?.responses ?? {})).toEqual([
      "200",
      "206",
      "302",
      "304",
      "404",
      "416",
    ]);
  });
});

describe("GET /store/{request_hash}/{file} with the S3 store", () => {
  const BUCKET = "asu-route-test";
  let s3: S3Server;
  let scratch: string;
  let viaPublicUrl: ServedApp;
  let viaPresigned: ServedApp;

  async function serveWith(publicUrl?: string): Promise<ServedApp> {
    const app = createApiApp({ title: "test", version: "0.0.0", logger: silent });
    const store = createS3Store({
      bucket: BUCKET,
      endpoint: s3.endpoint,
      accessKeyId: s3.accessKey,
      secretAccessKey: s3.secretKey,
      publicUrl,
      stagingRoot: scratch,
    });
    registerStoreRoute(app, { store });
    return serveApp(app);
  }

  beforeAll(async () => {
    s3 = await startS3Server();
    await s3.createBucket(BUCKET);
    scratch = await mkdtemp(join(tmpdir(), "asu-store-route-s3-"));
    const source = join(scratch, "build");
    await mkdir(join(source, "sub"), { recursive: true });
    await writeFile(join(source, "openwrt-sysupgrade.bin"), IMAGE);
    await writeFile(join(source, "sub", "profiles.json"), '{"id":"x"}');
    const store = createS3Store({
      bucket: BUCKET,
      endpoint: s3.endpoint,
      accessKeyId: s3.accessKey,
      secretAccessKey: s3.secretKey,
      stagingRoot: scratch,
    });
    await store.save(HASH, source);
    viaPublicUrl = await serveWith(`${s3.endpoint}/${BUCKET}`);
    viaPresigned = await serveWith();
  });

  afterAll(async () => {
    await viaPublicUrl?.close();
    await viaPresigned?.close();
    await s3?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it("redirects to S3_PUBLIC_URL/store/{hash}/{file}, where the bytes are", async () => {
    const res = await fetch(`${viaPublicUrl.url}/store/${HASH}/openwrt-sysupgrade.bin`, {
      redirect: "manual",
    });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe(
      `${s3.endpoint}/${BUCKET}/store/${HASH}/openwrt-sysupgrade.bin`,
    );
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    const followed = await fetch(`${viaPublicUrl.url}/store/${HASH}/openwrt-sysupgrade.bin`);
    expect(followed.status).toBe(200);
    expect(Buffer.from(await followed.arrayBuffer()).equals(IMAGE)).toBe(true);
    const nested = await fetch(`${viaPublicUrl.url}/store/${HASH}/sub/profiles.json`);
    expect(await nested.text()).toBe('{"id":"x"}');
  });

  it("redirects to a presigned URL without a public URL", async () => {
    const res = await fetch(`${viaPresigned.url}/store/${HASH}/openwrt-sysupgrade.bin`, {
      redirect: "manual",
    });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get("location") ?? "");
    expect(location.pathname).toBe(`/${BUCKET}/store/${HASH}/openwrt-sysupgrade.bin`);
    expect(location.searchParams.get("X-Amz-Signature")).toMatch(/^[0-9a-f]{64}$/);
    const object = await fetch(location);
    expect(Buffer.from(await object.arrayBuffer()).equals(IMAGE)).toBe(true);
  });

  it("answers HEAD with the redirect", async () => {
    const res = await rawRequest(viaPublicUrl.url, `/store/${HASH}/openwrt-sysupgrade.bin`, {
      method: "HEAD",
    });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(
      `${s3.endpoint}/${BUCKET}/store/${HASH}/openwrt-sysupgrade.bin`,
    );
  });

  it.each([
    `/store/${HASH}/../../secret.txt`,
    `/store/${HASH}/..%2fsecret.txt`,
    `/store/${HASH}/..%5csecret.txt`,
    `/store/${HASH.toUpperCase()}/openwrt-sysupgrade.bin`,
    `/store/${HASH}`,
    `/store/${HASH}/`,
    "/store/secret.txt",
    `/store/${HASH}/%ZZ`,
  ])("%s → 404 without a redirect", async (path) => {
    const res = await rawRequest(viaPublicUrl.url, path);
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body.toString())).toEqual(NOT_FOUND);
  });
});
