import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { storeProblemOf } from "./build-store.ts";
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

describe("has", () => {
  async function stored(options: Parameters<typeof createLocalStore>[1] = {}) {
    const publicPath = await mkdtemp(join(tmpdir(), "asu-store-has-"));
    const store = createLocalStore(publicPath, options);
    await build(join(publicPath, "work"));
    await store.save(hash, join(publicPath, "work"));
    return { store, folder: join(publicPath, "store", hash) };
  }

  it("finds every named file, or anything of the build when none is named", async () => {
    const { store, folder } = await stored();
    expect(await store.has(hash, ["image.bin"])).toBe(true);
    expect(await store.has(hash, [])).toBe(true);
    expect(await store.has(hash, ["image.bin", "other.bin"])).toBe(false);
    expect(await store.has(hash, ["../image.bin"])).toBe(false);
    expect(await store.has("b".repeat(64), [])).toBe(false);
    expect(await store.has("../store", [])).toBe(false);
    await rm(folder, { recursive: true });
  });

  it("believes files found for the presence TTL, and sees their loss after it", async () => {
    let now = 1_000;
    const { store, folder } = await stored({ presenceTtlMs: 2000, now: () => now });
    expect(await store.has(hash, ["image.bin"])).toBe(true);
    await rm(folder, { recursive: true });
    // Lost behind the store's back (a wiped disk): believed until the TTL ends.
    expect(await store.has(hash, ["image.bin"])).toBe(true);
    // Another list of files is asked afresh.
    expect(await store.has(hash, [])).toBe(false);
    now += 2001;
    expect(await store.has(hash, ["image.bin"])).toBe(false);
  });

  it("never remembers files missing, and forgets a build it removes", async () => {
    const { store, folder } = await stored({ presenceTtlMs: 60_000 });
    expect(await store.has(hash, ["later.bin"])).toBe(false);
    await writeFile(join(folder, "later.bin"), "");
    expect(await store.has(hash, ["later.bin"])).toBe(true);
    await store.remove(hash);
    expect(await store.has(hash, ["later.bin"])).toBe(false);
  });

  it("asks the disk every time with a presence TTL of 0", async () => {
    const { store, folder } = await stored({ presenceTtlMs: 0 });
    expect(await store.has(hash, ["image.bin"])).toBe(true);
    await rm(folder, { recursive: true });
    expect(await store.has(hash, ["image.bin"])).toBe(false);
  });
});

describe("writeProblem", () => {
  it("finds nothing wrong with a writable store with room", async () => {
    const dir = await mkdtemp(join(tmpdir(), "asu-store-ok-"));
    expect(await createLocalStore(dir).writeProblem()).toBeUndefined();
    await rm(dir, { recursive: true, force: true });
  });

  it("calls a store without the room for a build full", async () => {
    const dir = await mkdtemp(join(tmpdir(), "asu-store-full-"));
    const problem = await createLocalStore(dir, {
      minFreeBytes: Number.MAX_SAFE_INTEGER,
    }).writeProblem();
    expect(problem).toMatchObject({ state: "full" });
    expect(problem?.detail).toMatch(/^the build store is full \(\d+ MiB free\)$/);
    await rm(dir, { recursive: true, force: true });
  });

  it("calls a store it cannot create unwritable", async () => {
    const dir = await mkdtemp(join(tmpdir(), "asu-store-file-"));
    // PUBLIC_PATH is a file: the store folder cannot exist under it.
    await writeFile(join(dir, "public"), "");
    const problem = await createLocalStore(join(dir, "public")).writeProblem();
    expect(problem).toMatchObject({ state: "unwritable" });
    await rm(dir, { recursive: true, force: true });
  });
});

describe("storeProblemOf", () => {
  it("reads no space, quota and read-only errors", () => {
    const error = (code: string) => Object.assign(new Error(code), { code });
    expect(storeProblemOf(error("ENOSPC"))?.state).toBe("full");
    expect(storeProblemOf(error("EDQUOT"))?.state).toBe("full");
    expect(storeProblemOf(error("EROFS"))?.state).toBe("unwritable");
    expect(storeProblemOf(error("ECONNRESET"))).toBeUndefined();
  });
});
