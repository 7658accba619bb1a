import { mkdtemp, readdir, readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pack } from "tar-stream";
import { describe, expect, it } from "vitest";
import { extractTar, OutputTooLarge } from "./tar-extract.ts";

type Entry = Parameters<ReturnType<typeof pack>["entry"]>[0] & { body?: string };

async function archive(entries: Entry[]): Promise<Readable> {
  const packer = pack();
  for (const { body, ...header } of entries) packer.entry(header, body ?? "");
  packer.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of packer) chunks.push(chunk as Buffer);
  return Readable.from([Buffer.concat(chunks)]);
}

async function tree(dir: string): Promise<string[]> {
  const found = await readdir(dir, { recursive: true, withFileTypes: true });
  return found
    .map((entry) => {
      const path = join(entry.parentPath, entry.name).slice(dir.length + 1);
      return entry.isDirectory() ? `${path}/` : path;
    })
    .sort();
}

describe("extractTar", () => {
  it("unpacks a BIN_DIR archive below the destination, first component stripped", async () => {
    const dest = join(await mkdtemp(join(tmpdir(), "asu-extract-")), "out");
    const hash = "c".repeat(64);
    const result = await extractTar(
      await archive([
        { name: `${hash}/`, type: "directory", mode: 0o1777 },
        { name: `${hash}/profiles.json`, mode: 0o600, body: "{}" },
        { name: `${hash}/sub/`, type: "directory", mode: 0o700 },
        { name: `${hash}/sub/image.bin`, mode: 0o4755, body: "firmware" },
      ]),
      dest,
      { stripComponents: 1 },
    );
    expect(result).toEqual({ files: ["profiles.json", "sub/image.bin"], skipped: [] });
    expect(await tree(dest)).toEqual(["profiles.json", "sub/", "sub/image.bin"]);
    expect(await readFile(join(dest, "sub/image.bin"), "utf8")).toBe("firmware");
    // Fixed modes whatever the archive says: no setuid, no private or world-writable files.
    expect((await stat(join(dest, "sub/image.bin"))).mode & 0o7777).toBe(0o644);
    expect((await stat(join(dest, "profiles.json"))).mode & 0o7777).toBe(0o644);
    expect((await stat(join(dest, "sub"))).mode & 0o7777).toBe(0o755);
  });

  it("writes nothing outside the destination and no links or devices", async () => {
    const base = await mkdtemp(join(tmpdir(), "asu-extract-"));
    const dest = join(base, "out");
    const result = await extractTar(
      await archive([
        { name: "x/../../escape", body: "no" },
        { name: "/etc/abs", body: "no" },
        { name: "x/link", type: "symlink", linkname: "/etc/passwd" },
        { name: "x/hard", type: "link", linkname: "x/ok" },
        { name: "x/fifo", type: "fifo" },
        { name: "x/ok", body: "yes" },
      ]),
      dest,
      { stripComponents: 1 },
    );
    expect(result.files).toEqual(["ok"]);
    expect(result.skipped).toEqual(["x/../../escape", "/etc/abs", "x/link", "x/hard", "x/fifo"]);
    expect(await tree(base)).toEqual(["out/", "out/ok"]);
  });

  it("keeps paths when nothing is stripped, and skips what stripping empties", async () => {
    const dest = await mkdtemp(join(tmpdir(), "asu-extract-"));
    const result = await extractTar(
      await archive([
        { name: "top.txt", body: "a" },
        { name: "d/in.txt", body: "b" },
      ]),
      dest,
    );
    expect(result.files).toEqual(["top.txt", "d/in.txt"]);
    const stripped = await extractTar(await archive([{ name: "only.txt", body: "a" }]), dest, {
      stripComponents: 1,
    });
    expect(stripped).toEqual({ files: [], skipped: ["only.txt"] });
  });

  it("fails on a broken archive", async () => {
    const dest = await mkdtemp(join(tmpdir(), "asu-extract-"));
    const broken = Readable.from([Buffer.alloc(700, 1)]);
    await expect(extractTar(broken, dest)).rejects.toThrow();
  });

  it("stops before the file that takes the content past maxBytes", async () => {
    const dest = await mkdtemp(join(tmpdir(), "asu-extract-"));
    const entries = [
      { name: "a.bin", body: "x".repeat(600) },
      { name: "b.bin", body: "y".repeat(600) },
    ];
    await expect(extractTar(await archive(entries), dest, { maxBytes: 1000 })).rejects.toThrow(
      OutputTooLarge,
    );
    expect(await tree(dest)).toEqual(["a.bin"]);
    const fits = await mkdtemp(join(tmpdir(), "asu-extract-"));
    const result = await extractTar(await archive(entries), fits, { maxBytes: 1200 });
    expect(result.files).toEqual(["a.bin", "b.bin"]);
  });
});
