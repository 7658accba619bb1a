import { describe, expect, it } from "vitest";
import { branchesFromTable, DEFAULT_BRANCHES } from "./branches.ts";
import {
  compareVersions,
  inEnabledBranch,
  latestVersions,
  serverVersions,
  sortNewestFirst,
  versionsByBranch,
} from "./versions.ts";

/** The reference upstream's `.versions.json`. */
const SAMPLE = {
  stable_version: "23.05.5",
  oldstable_version: "22.03.7",
  upcoming_version: "24.10.0-rc6",
  versions_list: ["1.2.3", "22.03.7", "23.05.5", "24.10.0-rc6"],
};

/** Oldest to newest; every later entry is newer than every earlier one. */
const ASCENDING = [
  "garbage",
  "test",
  "1.2.3",
  "19.07.10",
  "21.02-SNAPSHOT",
  "21.02.0-rc1",
  "21.02.0",
  "21.02.7",
  "23.05-SNAPSHOT",
  "23.05.0-rc1",
  "23.05.0-rc2",
  "23.05.0",
  "23.05.5",
  "24.10-SNAPSHOT",
  "24.10",
  "24.10.0-rc1",
  "24.10.0-rc6",
  "24.10.0-rc10",
  "24.10.0",
  "24.10.1",
  "24.10.9",
  "24.10.10",
  "25.12-SNAPSHOT",
  "25.12.0-rc1",
  "25.12.0",
  "SNAPSHOT",
];

describe("compareVersions", () => {
  it("orders every pair of the reference sequence consistently", () => {
    for (const [i, a] of ASCENDING.entries()) {
      for (const [j, b] of ASCENDING.entries()) {
        expect(Math.sign(compareVersions(a, b)), `${a} vs ${b}`).toBe(Math.sign(i - j));
      }
    }
  });

  it("puts a branch's -SNAPSHOT below its first release candidate", () => {
    expect(compareVersions("24.10-SNAPSHOT", "24.10.0-rc1")).toBeLessThan(0);
  });

  it("puts release candidates below their release", () => {
    expect(compareVersions("24.10.0-rc6", "24.10.0")).toBeLessThan(0);
  });

  it("compares numbers numerically, not as text", () => {
    expect(compareVersions("24.10.10", "24.10.9")).toBeGreaterThan(0);
    expect(compareVersions("24.10.0-rc10", "24.10.0-rc9")).toBeGreaterThan(0);
  });

  it("keeps SNAPSHOT above every numbered version", () => {
    expect(compareVersions("SNAPSHOT", "99.99.99")).toBeGreaterThan(0);
  });

  it("is zero only for the same string", () => {
    expect(compareVersions("23.05.5", "23.05.5")).toBe(0);
    expect(compareVersions("23.05.5", "23.5.5")).not.toBe(0);
    expect(Math.sign(compareVersions("23.05.5", "23.5.5"))).toBe(
      -Math.sign(compareVersions("23.5.5", "23.05.5")),
    );
  });
});

describe("sortNewestFirst", () => {
  it("sorts a shuffled list newest first", () => {
    // 7 is coprime with the length, so this visits every index once, out of order.
    const shuffled = ASCENDING.map((_, i) => ASCENDING[(i * 7) % ASCENDING.length] ?? "");
    expect(new Set(shuffled).size).toBe(ASCENDING.length);
    expect(sortNewestFirst(shuffled)).toEqual([...ASCENDING].reverse());
  });

  it("does not modify its input", () => {
    const input = ["1.0.0", "2.0.0"];
    sortNewestFirst(input);
    expect(input).toEqual(["1.0.0", "2.0.0"]);
  });
});

describe("inEnabledBranch", () => {
  it("follows the branch of the version", () => {
    expect(inEnabledBranch("23.05.5", DEFAULT_BRANCHES)).toBe(true);
    expect(inEnabledBranch("23.05-SNAPSHOT", DEFAULT_BRANCHES)).toBe(true);
    expect(inEnabledBranch("1.2.3", DEFAULT_BRANCHES)).toBe(false);
    expect(inEnabledBranch("24.100.1", DEFAULT_BRANCHES)).toBe(false);
  });

  it("is false for a disabled branch", () => {
    const branches = branchesFromTable([{ name: "23.05", enabled: false }]);
    expect(inEnabledBranch("23.05.5", branches)).toBe(false);
  });
});

describe("serverVersions", () => {
  it("builds the sample upstream's list with the default branches", () => {
    expect(serverVersions(SAMPLE, DEFAULT_BRANCHES)).toEqual([
      "SNAPSHOT",
      "25.12-SNAPSHOT",
      "24.10.0-rc6",
      "24.10-SNAPSHOT",
      "23.05.5",
      "23.05-SNAPSHOT",
      "22.03.7",
      "22.03-SNAPSHOT",
      "21.02-SNAPSHOT",
    ]);
  });

  it("keeps versions of an extra configured branch", () => {
    const branches = branchesFromTable([{ name: "SNAPSHOT" }, { name: "1.2", branch_off_rev: 1 }]);
    expect(serverVersions(SAMPLE, branches)).toEqual(["SNAPSHOT", "1.2.3", "1.2-SNAPSHOT"]);
  });

  it("drops everything of a disabled branch, its -SNAPSHOT included", () => {
    const branches = branchesFromTable([
      { name: "SNAPSHOT", enabled: false },
      { name: "24.10" },
      { name: "23.05", enabled: false },
    ]);
    expect(serverVersions(SAMPLE, branches)).toEqual(["24.10.0-rc6", "24.10-SNAPSHOT"]);
  });

  it("tolerates an empty upcoming version and a missing list", () => {
    expect(serverVersions({ upcoming_version: "" }, DEFAULT_BRANCHES)).toEqual([
      "SNAPSHOT",
      "25.12-SNAPSHOT",
      "24.10-SNAPSHOT",
      "23.05-SNAPSHOT",
      "22.03-SNAPSHOT",
      "21.02-SNAPSHOT",
    ]);
    expect(serverVersions({ upcoming_version: null, versions_list: null }, [])).toEqual([]);
  });

  it("lists an upcoming version missing from versions_list, once", () => {
    const upstream = { upcoming_version: "25.12.0-rc1", versions_list: ["24.10.1", "24.10.1"] };
    const branches = branchesFromTable([{ name: "25.12" }, { name: "24.10" }]);
    expect(serverVersions(upstream, branches)).toEqual([
      "25.12.0-rc1",
      "25.12-SNAPSHOT",
      "24.10.1",
      "24.10-SNAPSHOT",
    ]);
  });

  it("names a snapshot branch by itself rather than adding -SNAPSHOT", () => {
    const branches = branchesFromTable([{ name: "main", snapshot: true, path: "snapshots" }]);
    expect(serverVersions({}, branches)).toEqual(["main"]);
  });
});

describe("latestVersions", () => {
  it("lists upcoming, stable and oldstable in that order", () => {
    expect(latestVersions(SAMPLE, DEFAULT_BRANCHES)).toEqual(["24.10.0-rc6", "23.05.5", "22.03.7"]);
  });

  it("leaves out versions of disabled or unknown branches", () => {
    const branches = branchesFromTable([
      { name: "24.10" },
      { name: "23.05" },
      { name: "22.03", enabled: false },
    ]);
    expect(latestVersions(SAMPLE, branches)).toEqual(["24.10.0-rc6", "23.05.5"]);
    expect(latestVersions({ stable_version: "19.07.10" }, DEFAULT_BRANCHES)).toEqual([]);
  });

  it("skips empty fields and repeats", () => {
    expect(
      latestVersions(
        { upcoming_version: "", stable_version: "24.10.1", oldstable_version: "24.10.1" },
        DEFAULT_BRANCHES,
      ),
    ).toEqual(["24.10.1"]);
    expect(latestVersions({}, DEFAULT_BRANCHES)).toEqual([]);
  });
});

describe("versionsByBranch", () => {
  it("groups the served versions by branch, newest first, in branch order", () => {
    const grouped = versionsByBranch(serverVersions(SAMPLE, DEFAULT_BRANCHES), DEFAULT_BRANCHES);
    expect([...grouped]).toEqual([
      ["SNAPSHOT", ["SNAPSHOT"]],
      ["25.12", ["25.12-SNAPSHOT"]],
      ["24.10", ["24.10.0-rc6", "24.10-SNAPSHOT"]],
      ["23.05", ["23.05.5", "23.05-SNAPSHOT"]],
      ["22.03", ["22.03.7", "22.03-SNAPSHOT"]],
      ["21.02", ["21.02-SNAPSHOT"]],
    ]);
  });

  it("sorts within a branch and drops versions of unlisted branches and repeats", () => {
    const branches = branchesFromTable([{ name: "24.10" }]);
    const grouped = versionsByBranch(
      ["24.10.0", "19.07.10", "24.10.1", "24.10.0-rc1", "24.10.1", "24.10-SNAPSHOT"],
      branches,
    );
    expect([...grouped]).toEqual([
      ["24.10", ["24.10.1", "24.10.0", "24.10.0-rc1", "24.10-SNAPSHOT"]],
    ]);
  });

  it("gives an empty list to a branch without versions", () => {
    expect([...versionsByBranch([], branchesFromTable([{ name: "24.10" }]))]).toEqual([
      ["24.10", []],
    ]);
  });
});
