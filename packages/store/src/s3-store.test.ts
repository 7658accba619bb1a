import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type S3Server, startS3Server } from "../../../test/support/s3-server.ts";
import { createS3Store, type S3StoreOptions } from "./s3-store.ts";

const BUCKET = "asu-store-test";
const HASH = "ab12".repeat(16);
const OTHER = "2".repeat(64);
const IMAGE = randomBytes(300 * 1024);

let s3: S3Server;
let scratch: string;

beforeAll(async () => {
  s3 = await startS3Server();
  await s3.createBucket(BUCKET);
  scratch = await mkdtemp(join(tmpdir(), "asu-s3-store-"));
});

afterAll(async () => {
  await s3?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

function store(options: Partial<S3StoreOptions> = {}) {
  return createS3Store({
    bucket: BUCKET,
    endpoint: s3.endpoint,
    accessKeyId: s3.accessKey,
    secretAccessKey: s3.secretKey,
    stagingRoot: scratch,
    ...options,
  });
}

/** A BIN_DIR as the ImageBuilder leaves it, with `files` name → content. */
async function buildDir(files: Record<string, string | Buffer>): Promise<string> {
  const dir = await mkdtemp(join(scratch, "build-"));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir, name, ".."), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  return dir;
}

const keysOf = (hash: string) => s3.listKeys(BUCKET, `store/${hash}/`);

describe("createS3Store", () => {
  it("uploads every file of a build under store/{hash}/ with its content type, then drops the source", async () => {
    const source = await buildDir({
      "openwrt-ath79-generic-sysupgrade.bin": IMAGE,
      "profiles.json": '{"profiles":{}}',
      "openwrt-ath79-generic.manifest": "luci - 1\n",
      "sub/dir/extra.img.gz": "gz",
    });
    await store().save(HASH, source);

    expect((await keysOf(HASH)).sort()).toEqual([
      `store/${HASH}/openwrt-ath79-generic-sysupgrade.bin`,
      `store/${HASH}/openwrt-ath79-generic.manifest`,
      `store/${HASH}/profiles.json`,
      `store/${HASH}/sub/dir/extra.img.gz`,
    ]);
    const image = await s3.getObject(BUCKET, `store/${HASH}/openwrt-ath79-generic-sysupgrade.bin`);
    expect(image.headers.get("content-type")).toBe("application/octet-stream");
    expect(Buffer.from(await image.arrayBuffer()).equals(IMAGE)).toBe(true);
    const json = await s3.getObject(BUCKET, `store/${HASH}/profiles.json`);
    expect(json.headers.get("content-type")).toBe("application/json");
    expect(await json.text()).toBe('{"profiles":{}}');
    const manifest = await s3.getObject(BUCKET, `store/${HASH}/openwrt-ath79-generic.manifest`);
    expect(manifest.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    await manifest.arrayBuffer();
    await expect(stat(source)).rejects.toThrow();
  });

  it("replaces an older copy of the same build", async () => {
    await store().save(HASH, await buildDir({ "old.bin": "old", "kept.bin": "v1" }));
    await store().save(HASH, await buildDir({ "kept.bin": "v2", "new.bin": "new" }));
    expect((await keysOf(HASH)).sort()).toEqual([
      `store/${HASH}/kept.bin`,
      `store/${HASH}/new.bin`,
    ]);
    expect(await (await s3.getObject(BUCKET, `store/${HASH}/kept.bin`)).text()).toBe("v2");
  });

  it("removes one build's objects and nothing else; removing again is no error", async () => {
    await store().save(HASH, await buildDir({ "a.bin": "a", "b/c.bin": "c" }));
    await store().save(OTHER, await buildDir({ "a.bin": "other" }));
    await store().remove(HASH);
    expect(await keysOf(HASH)).toEqual([]);
    expect(await keysOf(OTHER)).toEqual([`store/${OTHER}/a.bin`]);
    await store().remove(HASH);
  });

  it("pages through ListObjectsV2 when removing and replacing", async () => {
    const small = store({ listPageSize: 2 });
    const files = Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`f${i}.bin`, `${i}`]));
    await small.save(HASH, await buildDir({ ...files, "g.bin": "g" }));
    await small.save(HASH, await buildDir({ "g.bin": "g2" }));
    expect(await keysOf(HASH)).toEqual([`store/${HASH}/g.bin`]);

    await small.save(HASH, await buildDir(files));
    expect(await keysOf(HASH)).toHaveLength(7);
    await small.remove(HASH);
    expect(await keysOf(HASH)).toEqual([]);
  });

  it("refuses anything that is not a request hash", async () => {
    await expect(store().remove("../../etc")).rejects.toThrow(/Not a request hash/);
    await expect(store().save("abc", scratch)).rejects.toThrow(/Not a request hash/);
  });

  it("fails an upload to a missing bucket at once, without retrying it", async () => {
    const started = Date.now();
    const source = await buildDir({ "a.bin": "a" });
    await expect(store({ bucket: "no-such-bucket" }).save(HASH, source)).rejects.toThrow(/bucket/i);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("retries an upload the server failed, sending the whole file again", async () => {
    // Between the store and S3: the first upload of each object gets a 503.
    const failed = new Set<string>();
    const proxy: Server = createServer((req, res) => {
      if (req.method === "PUT" && req.url?.includes("/store/") && !failed.has(req.url)) {
        failed.add(req.url);
        req.resume().on("end", () => {
          res.writeHead(503, { "content-type": "application/xml" });
          res.end("<Error><Code>SlowDown</Code><Message>try again</Message></Error>");
        });
        return;
      }
      const upstream = request(`${s3.endpoint}${req.url}`, {
        method: req.method,
        headers: req.headers,
      });
      upstream.on("response", (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = proxy.address() as AddressInfo;
      const flaky = store({ endpoint: `http://127.0.0.1:${port}` });
      await flaky.save(OTHER, await buildDir({ "fw.bin": IMAGE, "profiles.json": "{}" }));
      expect(failed.size).toBe(2);
      const stored = await s3.getObject(BUCKET, `store/${OTHER}/fw.bin`);
      expect(Buffer.from(await stored.arrayBuffer()).equals(IMAGE)).toBe(true);
    } finally {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  describe("locate", () => {
    beforeAll(async () => {
      await store().save(
        HASH,
        await buildDir({ "fw.bin": IMAGE, "name with spaces & #.txt": "odd", "sub/x.bin": "x" }),
      );
    });

    it("points at S3_PUBLIC_URL/store/{hash}/{file}, names encoded", async () => {
      const publicUrl = `${s3.endpoint}/${BUCKET}/`;
      const located = await store({ publicUrl }).locate(HASH, "name with spaces & #.txt");
      expect(located).toEqual({
        kind: "redirect",
        url: `${s3.endpoint}/${BUCKET}/store/${HASH}/name%20with%20spaces%20%26%20%23.txt`,
      });
      if (located?.kind !== "redirect") throw new Error("not a redirect");
      expect(await (await fetch(located.url)).text()).toBe("odd");
      const sub = await store({ publicUrl }).locate(HASH, "sub/x.bin");
      expect(sub).toEqual({ kind: "redirect", url: `${publicUrl}store/${HASH}/sub/x.bin` });
    });

    it("presigns a GET for an hour without a public URL", async () => {
      const located = await store().locate(HASH, "fw.bin");
      if (located?.kind !== "redirect") throw new Error("not a redirect");
      const url = new URL(located.url);
      expect(`${url.origin}${url.pathname}`).toBe(`${s3.endpoint}/${BUCKET}/store/${HASH}/fw.bin`);
      expect(url.searchParams.get("X-Amz-Expires")).toBe("3600");
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(IMAGE)).toBe(true);
    });

    it("presigns with the configured key and lifetime, which the server enforces", async () => {
      const shortLived = await store({ presignSeconds: 1 }).locate(HASH, "fw.bin");
      if (shortLived?.kind !== "redirect") throw new Error("not a redirect");
      expect(new URL(shortLived.url).searchParams.get("X-Amz-Credential")).toMatch(/^S3RVER\//);
      // The server's clock decides: ask until it calls the URL expired.
      await expect
        .poll(async () => {
          const expired = await fetch(shortLived.url);
          return { status: expired.status, text: await expired.text() };
        })
        .toMatchObject({ status: 403, text: expect.stringContaining("Request has expired") });
    });

    it.each([
      ["a file outside the build", HASH, "../x"],
      ["an empty name", HASH, ""],
      ["an empty segment", HASH, "sub//x.bin"],
      ["a dot segment", HASH, "sub/./x.bin"],
      ["a backslash", HASH, "..\\x"],
      ["a leading slash", HASH, "/etc/passwd"],
      ["an upper-case hash", HASH.toUpperCase(), "fw.bin"],
      ["no hash", "../store", "fw.bin"],
    ])("names nothing for %s", async (_case, hash, file) => {
      expect(await store().locate(hash, file)).toBeUndefined();
    });
  });
});
