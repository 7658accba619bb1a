import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { packFiles, safeRelativePath } from "./tar-pack.ts";

describe("safeRelativePath", () => {
  it("normalises relative paths", () => {
    expect(safeRelativePath("keys/abc")).toBe("keys/abc");
    expect(safeRelativePath("./a//b/")).toBe("a/b");
    expect(safeRelativePath("a/./b")).toBe("a/b");
  });

  it("refuses paths that could leave the directory", () => {
    for (const path of ["", ".", "/etc/passwd", "../x", "a/../../x", "a/..", "a\0b"]) {
      expect(() => safeRelativePath(path), path).toThrow(/Not a safe relative path/);
    }
  });
});

describe("packFiles", () => {
  it("packs files with their parents, owner and modes", async () => {
    const archive = await packFiles(
      [
        { path: "asu-files/etc/uci-defaults/99-asu-defaults", content: "echo hi\n" },
        { path: "keys/abc", content: Buffer.from("key"), mode: 0o600 },
        { path: "repositories.conf", content: "src/gz x https://x\n" },
      ],
      { uid: 1000, gid: 1001 },
    );
    const listing = execFileSync("tar", ["-tvf", "-", "--numeric-owner"], { input: archive })
      .toString()
      .trim()
      .split("\n")
      .map((line) => line.replace(/\s+\d{4}-\d\d-\d\d \d\d:\d\d/, "").replace(/\s+/g, " "));
    expect(listing).toEqual([
      "drwxr-xr-x 1000/1001 0 asu-files",
      "drwxr-xr-x 1000/1001 0 asu-files/etc",
      "drwxr-xr-x 1000/1001 0 asu-files/etc/uci-defaults",
      "drwxr-xr-x 1000/1001 0 keys",
      "-rw-r--r-- 1000/1001 8 asu-files/etc/uci-defaults/99-asu-defaults",
      "-rw------- 1000/1001 3 keys/abc",
      "-rw-r--r-- 1000/1001 19 repositories.conf",
    ]);
    const content = execFileSync(
      "tar",
      ["-xOf", "-", "asu-files/etc/uci-defaults/99-asu-defaults"],
      {
        input: archive,
      },
    ).toString();
    expect(content).toBe("echo hi\n");
  });

  it("refuses an unsafe path before packing anything", async () => {
    await expect(
      packFiles([{ path: "../evil", content: "x" }], { uid: 0, gid: 0 }),
    ).rejects.toThrow(/Not a safe relative path/);
  });
});
