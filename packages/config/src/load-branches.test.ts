import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_BRANCHES } from "@asu/openwrt-releases";
import { describe, expect, it } from "vitest";
import { loadBranches } from "./load-branches.ts";

function file(name: string, content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "asu-branches-")), name);
  writeFileSync(path, content);
  return path;
}

describe("loadBranches", () => {
  it("defaults to the contract's table", () => {
    expect(loadBranches(undefined)).toBe(DEFAULT_BRANCHES);
    expect(DEFAULT_BRANCHES.map((branch) => branch.name)).toEqual([
      "SNAPSHOT",
      "25.12",
      "24.10",
      "23.05",
      "22.03",
      "21.02",
    ]);
  });

  it("reads the Python server's mapping from JSON", () => {
    const branches = loadBranches(
      file(
        "branches.json",
        JSON.stringify({
          SNAPSHOT: {},
          "24.10": { branch_off_rev: 27990 },
          "23.05": { branch_off_rev: 23069, enabled: false },
        }),
      ),
    );
    expect(branches.map((branch) => [branch.name, branch.path, branch.enabled])).toEqual([
      ["SNAPSHOT", "snapshots", true],
      ["24.10", "releases/{version}", true],
      ["23.05", "releases/{version}", false],
    ]);
    const b2410 = branches.find((branch) => branch.name === "24.10");
    expect(b2410?.package_changes.map((change) => change.source)).toContain("auc");
    expect(b2410?.package_changes.map((change) => change.source)).not.toContain("opkg");
  });

  it("reads a TOML list of rows", () => {
    const branches = loadBranches(
      file(
        "branches.toml",
        '[[branches]]\nname = "SNAPSHOT"\n\n[[branches]]\nname = "25.12"\nbranch_off_rev = 32295\n',
      ),
    );
    expect(branches.map((branch) => branch.name)).toEqual(["SNAPSHOT", "25.12"]);
    expect(branches[1]?.branch_off_rev).toBe(32295);
  });

  it("names the file and the problem when it is wrong", () => {
    expect(() => loadBranches(file("bad.json", '{"24.10": {"branch_off_rev": "x"}}'))).toThrow(
      /BRANCHES_FILE=.*bad\.json/,
    );
    expect(() => loadBranches(file("broken.json", "{"))).toThrow(/BRANCHES_FILE=/);
    expect(() => loadBranches("/nonexistent/branches.json")).toThrow(/BRANCHES_FILE=/);
  });
});
