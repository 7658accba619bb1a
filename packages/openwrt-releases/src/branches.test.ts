import { describe, expect, it } from "vitest";
import { CONTRACT, contractChangesOf } from "../../../test/support/contract-tables.ts";
import type { Branch } from "./branches.ts";
import {
  branchesFromTable,
  branchOf,
  branchPath,
  DEFAULT_BRANCHES,
  findBranch,
  isSnapshot,
  versionRevision,
} from "./branches.ts";
import { PACKAGE_CHANGES } from "./package-changes.ts";

const sources = (branch: Branch | undefined) => branch?.package_changes.map((c) => c.source);
const named = (name: string) => DEFAULT_BRANCHES.find((branch) => branch.name === name);

describe("DEFAULT_BRANCHES", () => {
  it("lists the contract's branches, newest first, all enabled", () => {
    expect(
      DEFAULT_BRANCHES.map(({ name, path, snapshot, branch_off_rev }) => ({
        name,
        path,
        snapshot,
        ...(branch_off_rev === undefined ? {} : { branch_off_rev }),
      })),
    ).toEqual(CONTRACT.branches);
    expect(DEFAULT_BRANCHES.every((branch) => branch.enabled)).toBe(true);
  });

  it("gives SNAPSHOT every change and each release the changes up to its branch-off", () => {
    for (const { name } of CONTRACT.branches) {
      expect(named(name)?.package_changes, name).toEqual(contractChangesOf(name));
    }
    expect(named("SNAPSHOT")?.package_changes).toEqual(PACKAGE_CHANGES);
    expect(sources(named("21.02"))).toEqual([]);
  });

  it("serialises like the Python server's branch entries (no branch_off_rev on SNAPSHOT)", () => {
    expect(Object.keys(JSON.parse(JSON.stringify(named("SNAPSHOT"))))).toEqual([
      "name",
      "path",
      "enabled",
      "snapshot",
      "package_changes",
    ]);
    expect(JSON.parse(JSON.stringify(named("22.03")))).toEqual({
      name: "22.03",
      path: "releases/{version}",
      enabled: true,
      snapshot: false,
      branch_off_rev: 19160,
      package_changes: [{ source: "firewall", target: "firewall4", revision: 18611 }],
    });
  });
});

describe("branchesFromTable", () => {
  it("fills release defaults for a bare row", () => {
    expect(branchesFromTable([{ name: "test-branch", branch_off_rev: 99999 }])).toEqual([
      {
        name: "test-branch",
        path: "releases/{version}",
        enabled: true,
        snapshot: false,
        branch_off_rev: 99999,
        package_changes: PACKAGE_CHANGES,
      },
    ]);
  });

  it("fills snapshot defaults for a bare SNAPSHOT row", () => {
    expect(branchesFromTable([{ name: "SNAPSHOT" }])).toEqual([
      {
        name: "SNAPSHOT",
        path: "snapshots",
        enabled: true,
        snapshot: true,
        package_changes: PACKAGE_CHANGES,
      },
    ]);
  });

  it("keeps every value the row gives", () => {
    const [branch] = branchesFromTable([
      { name: "SNAPSHOT", path: "custom", enabled: false, snapshot: false, branch_off_rev: 19000 },
    ]);
    expect(branch).toEqual({
      name: "SNAPSHOT",
      path: "custom",
      enabled: false,
      snapshot: false,
      branch_off_rev: 19000,
      package_changes: [{ source: "firewall", target: "firewall4", revision: 18611 }],
    });
  });

  it("takes a row's own package_changes over the table, as copies", () => {
    const own = [{ source: "x", target: "y", revision: 1 }];
    const [branch] = branchesFromTable([
      { name: "1.2", branch_off_rev: 50000, package_changes: own },
    ]);
    expect(branch?.package_changes).toEqual(own);
    expect(branch?.package_changes[0]).not.toBe(own[0]);
  });

  it("derives package_changes from a given change table", () => {
    const table = [
      { source: "a", target: "b", revision: 10 },
      { source: "c", revision: 20, mandatory: true },
    ];
    const branches = branchesFromTable(
      [{ name: "SNAPSHOT" }, { name: "1.0", branch_off_rev: 15 }],
      table,
    );
    expect(branches.map((branch) => branch.package_changes)).toEqual([
      table,
      [{ source: "a", target: "b", revision: 10 }],
    ]);
  });

  it("refuses a table naming a branch twice", () => {
    expect(() => branchesFromTable([{ name: "24.10" }, { name: "24.10" }])).toThrow(
      "Duplicate branch in table: 24.10",
    );
  });

  it("accepts an empty table", () => {
    expect(branchesFromTable([])).toEqual([]);
  });
});

describe("branchOf", () => {
  it.each([
    ["23.05.4", "23.05"],
    ["24.10.0-rc6", "24.10"],
    ["23.05-SNAPSHOT", "23.05"],
    ["SNAPSHOT", "SNAPSHOT"],
    ["24.10", "24.10"],
    ["19.07.10", "19.07"],
    ["21.02.0-rc1", "21.02"],
    ["1.2.3", "1.2"],
    ["test", "test"],
    ["", ""],
  ])("%s belongs to %s", (version, branch) => {
    expect(branchOf(version, DEFAULT_BRANCHES)).toBe(branch);
  });

  it("keeps a version that names a configured branch, even a dotted one", () => {
    const branches = branchesFromTable([{ name: "1.2.3" }]);
    expect(branchOf("1.2.3", branches)).toBe("1.2.3");
    expect(branchOf("1.2.3", DEFAULT_BRANCHES)).toBe("1.2");
  });

  it("cuts at the last dash for -SNAPSHOT and at the last dot otherwise", () => {
    expect(branchOf("test-branch-SNAPSHOT", DEFAULT_BRANCHES)).toBe("test-branch");
    expect(branchOf("24.10", [])).toBe("24");
    expect(branchOf("SNAPSHOT", [])).toBe("SNAPSHOT");
  });
});

describe("findBranch", () => {
  it("finds the configured branch of a version", () => {
    expect(findBranch("23.05.4", DEFAULT_BRANCHES)?.name).toBe("23.05");
    expect(findBranch("SNAPSHOT", DEFAULT_BRANCHES)?.name).toBe("SNAPSHOT");
    expect(findBranch("19.07.10", DEFAULT_BRANCHES)).toBeUndefined();
  });
});

describe("isSnapshot", () => {
  it.each([
    ["SNAPSHOT", true],
    ["23.05-SNAPSHOT", true],
    ["24.10-snapshot", true],
    ["snapshot", true],
    ["23.05.4", false],
    ["24.10.0-rc6", false],
    ["SNAPSHOTS", false],
    ["", false],
  ])("%s → %s", (version, expected) => {
    expect(isSnapshot(version)).toBe(expected);
  });
});

describe("branchPath", () => {
  it.each([
    ["SNAPSHOT", "snapshots"],
    ["23.05-SNAPSHOT", "releases/23.05-SNAPSHOT"],
    ["23.05.4", "releases/23.05.4"],
    ["24.10.0-rc6", "releases/24.10.0-rc6"],
    ["21.02.7", "releases/21.02.7"],
  ])("%s lives under %s", (version, path) => {
    expect(branchPath(version, DEFAULT_BRANCHES)).toBe(path);
  });

  it("is null for a version of no configured branch", () => {
    expect(branchPath("19.07.10", DEFAULT_BRANCHES)).toBeNull();
    expect(branchPath("SNAPSHOT", branchesFromTable([{ name: "24.10" }]))).toBeNull();
  });

  it("fills every placeholder of a custom path", () => {
    const branches = branchesFromTable([{ name: "1.2", path: "x/{version}/y/{version}" }]);
    expect(branchPath("1.2.3", branches)).toBe("x/1.2.3/y/1.2.3");
  });
});

describe("versionRevision", () => {
  it.each([
    ["24.10.0", 27990],
    ["24.10.5", 27990],
    ["24.10.0-rc6", 27990],
    ["24.10-SNAPSHOT", 27990],
    ["23.05.0", 23069],
    ["21.02.7", 15812],
    ["25.12.0", 32295],
  ])("%s stands for r%d", (version, revision) => {
    expect(versionRevision(version, DEFAULT_BRANCHES)).toBe(revision);
  });

  it("makes SNAPSHOT the newest of all", () => {
    expect(versionRevision("SNAPSHOT", DEFAULT_BRANCHES)).toBe(Number.POSITIVE_INFINITY);
  });

  it("is null when the branch is not configured", () => {
    expect(versionRevision("19.07.10", DEFAULT_BRANCHES)).toBeNull();
    expect(versionRevision("garbage", DEFAULT_BRANCHES)).toBeNull();
  });
});
