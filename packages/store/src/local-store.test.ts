import { mkdir, mkdtemp, readFile, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createLocalStore } from "./local-store.ts";

const hash = "a".repeat(64);

async function build(dir: string) {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "image.bin"), "firmware");
}

describe("createLocalStore", () => {
  it("saves a build folder under its hash and removes it", async () => {
    const publicPath = await mkdtemp(join(tmpdir(), "asu-store-"));
    const store = createLocalStore(publicPath);
    const source = join(publicPath, "work");
    await build(source);
    await store.save(hash, source);
    expect(await readFile(join(publicPath, "store", hash, "image.bin"), "utf8")).toBe("firmware");
    await expect(stat(source)).rejects.toThrow();
    await store.remove(hash);
    await expect(stat(join(publicPath, "store", hash))).rejects.toThrow();
    await store.remove(hash);
  });

  it("replaces an older copy of the same build", async () => {
    const publicPath = await mkdtemp(join(tmpdir(), "asu-store-"));
    const store = createLocalStore(publicPath);
    await build(join(publicPath, "one"));
    await store.save(hash, join(publicPath, "one"));
    await mkdir(join(publicPath, "two"));
    await writeFile(join(publicPath, "two", "other.bin"), "new");
    await store.save(hash, join(publicPath, "two"));
    await expect(stat(join(publicPath, "store", hash, "image.bin"))).rejects.toThrow();
    expect(await readFile(join(publicPath, "store", hash, "other.bin"), "utf8")).toBe("new");
  });

  it("refuses anything that is not a request hash", async () => {
    const store = createLocalStore(await mkdtemp(join(tmpdir(), "asu-store-")));
    await expect(store.remove("../../etc")).rejects.toThrow(/Not a request hash/);
    await expect(store.save("abc", "/tmp")).rejects.toThrow(/Not a request hash/);
  });

  it("resolves files inside a build only", () => {
    const store = createLocalStore("/srv/asu");
    expect(store.localPath(hash, "image.bin")).toBe(`/srv/asu/store/${hash}/image.bin`);
    expect(store.localPath(hash, "sub/dir/x")).toBe(`/srv/asu/store/${hash}/sub/dir/x`);
    expect(store.localPath(hash, "../other/x")).toBeUndefined();
    expect(store.localPath(hash, "/etc/passwd")).toBeUndefined();
    expect(store.localPath(hash, "")).toBeUndefined();
    expect(store.localPath("../store", "x")).toBeUndefined();
    expect(store.localPath(hash.toUpperCase(), "x")).toBeUndefined();
  });

  it("locates files on disk, inside the store, and stages builds beside it", async () => {
    const store = createLocalStore("/srv/asu");
    expect(store.stagingRoot).toBe("/srv/asu/store");
    expect(await store.locate(hash, "sub/image.bin")).toEqual({
      kind: "local",
      path: `/srv/asu/store/${hash}/sub/image.bin`,
      root: "/srv/asu/store",
    });
    expect(await store.locate(hash, "../other/x")).toBeUndefined();
    expect(await store.locate("../store", "x")).toBeUndefined();
  });
});
