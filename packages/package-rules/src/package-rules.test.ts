import { describe, expect, it } from "vitest";
import { CONTRACT } from "../../../test/support/contract-tables.ts";
import { applyServerRules } from "./package-resolution.ts";
import { matchesVersion, PACKAGE_RULES, versionLabel } from "./package-rules.ts";

const added = (version: string, target: string, profile: string) =>
  applyServerRules({ version, target, profile, packages: [] }).packages;

describe("device additions", () => {
  for (const { version, target, profiles, packages: expected } of CONTRACT.deviceAdditions) {
    for (const profile of profiles ?? ["some_other_device"]) {
      it(`${version} ${target} ${profile} gains ${expected.join(", ")}`, () => {
        expect(added(version, target, profile)).toEqual(expected);
      });
    }
  }

  it("adds nothing for a listed profile under another target", () => {
    expect(added("23.05.5", "ath79/nand", "netgear_wndr3700")).toEqual([]);
    expect(added("25.12.0", "mvebu/cortexa53", "cznic_turris-omnia")).toEqual([]);
    expect(added("25.12.0", "lantiq/xway", "avm_fritz7412")).toEqual([]);
  });

  it("adds nothing for an unlisted profile of a profile-scoped target", () => {
    expect(added("23.05.5", "ath79/generic", "tplink_archer-c7-v5")).toEqual([]);
    expect(added("25.12.0", "mvebu/cortexa9", "linksys_wrt3200acm-v2")).toEqual([]);
  });

  it("matches profiles exactly, case included", () => {
    expect(added("23.05.5", "ath79/generic", "Netgear_wndr3700")).toEqual([]);
    expect(added("23.05.5", "ath79/generic", "netgear,wndr3700")).toEqual([]);
  });

  it("matches versions by prefix: releases, candidates and branch snapshots of the branch", () => {
    for (const version of ["23.05", "23.05.0", "23.05.0-rc1", "23.05.5", "23.05-SNAPSHOT"]) {
      expect(added(version, "mediatek/mt7622", "x"), version).toEqual(["kmod-mt7622-firmware"]);
    }
    for (const version of ["22.03.7", "24.10.0", "SNAPSHOT", "23.5.0", "2305"]) {
      expect(added(version, "mediatek/mt7622", "x"), version).not.toContain("kmod-mt7622-firmware");
    }
  });

  it("applies a branch's additions to that branch only", () => {
    expect(added("24.10.0", "mvebu/cortexa9", "cznic_turris-omnia")).toEqual([]);
    expect(added("SNAPSHOT", "mvebu/cortexa9", "cznic_turris-omnia")).toEqual([]);
    expect(added("25.12.0", "mediatek/filogic", "x")).toEqual([]);
    expect(added("23.05.5", "ath79/mikrotik", "x")).toEqual([]);
  });

  it("has an add rule for every line of the contract and no other", () => {
    const covered = new Set<string>();
    for (const { version, target, profiles } of CONTRACT.deviceAdditions) {
      for (const profile of profiles ?? ["some_other_device"]) {
        covered.add(`${version.slice(0, 5)} ${target} ${profile}`);
      }
    }
    for (const rule of PACKAGE_RULES) {
      if (rule.kind !== "add" || !("prefix" in rule.when)) continue;
      for (const target of rule.targets ?? ["ath79/generic"]) {
        for (const profile of rule.profiles ?? ["some_other_device"]) {
          expect(covered, `${rule.when.prefix} ${target} ${profile}`).toContain(
            `${rule.when.prefix} ${target} ${profile}`,
          );
        }
      }
    }
  });
});

describe("rule data", () => {
  it("keeps the non-device rules the contract names, in application order", () => {
    const written = PACKAGE_RULES.filter((rule) => rule.kind !== "add").map((rule) =>
      "pattern" in rule ? { ...rule, pattern: rule.pattern.source } : rule,
    );
    expect(written).toEqual(CONTRACT.packageRules);
  });

  it("never lists a profile twice within a version and target", () => {
    const seen = new Set<string>();
    for (const rule of PACKAGE_RULES) {
      if (rule.kind !== "add" || !rule.profiles || !("prefix" in rule.when)) continue;
      for (const target of rule.targets ?? ["*"]) {
        for (const profile of rule.profiles) {
          const key = `${rule.when.prefix} ${target} ${profile}`;
          expect(seen, key).not.toContain(key);
          seen.add(key);
        }
      }
    }
  });
});

describe("matchesVersion", () => {
  it("matches a prefix by startsWith", () => {
    expect(matchesVersion({ prefix: "24.10" }, "24.10.0-rc6")).toBe(true);
    expect(matchesVersion({ prefix: "24.10" }, "24.10-SNAPSHOT")).toBe(true);
    expect(matchesVersion({ prefix: "24.10" }, "24.1")).toBe(false);
    expect(matchesVersion({ prefix: "24.10" }, "SNAPSHOT")).toBe(false);
  });

  it("matches an exact version only", () => {
    expect(matchesVersion({ exact: "SNAPSHOT" }, "SNAPSHOT")).toBe(true);
    expect(matchesVersion({ exact: "SNAPSHOT" }, "24.10-SNAPSHOT")).toBe(false);
    expect(matchesVersion({ exact: "SNAPSHOT" }, "snapshot")).toBe(false);
  });

  it("compares atLeast as text, as the Python server does", () => {
    const when = { atLeast: "24.10" };
    expect(matchesVersion(when, "24.10")).toBe(true);
    expect(matchesVersion(when, "24.10.0-rc1")).toBe(true);
    expect(matchesVersion(when, "24.10-SNAPSHOT")).toBe(true);
    expect(matchesVersion(when, "25.12.0")).toBe(true);
    expect(matchesVersion(when, "SNAPSHOT")).toBe(true);
    expect(matchesVersion(when, "24.09.9")).toBe(false);
    expect(matchesVersion(when, "23.05.5")).toBe(false);
    expect(matchesVersion(when, "23.05-SNAPSHOT")).toBe(false);
    // The text comparison's known quirk: a single-digit major sorts above "24".
    expect(matchesVersion(when, "3.0")).toBe(true);
  });

  it("matches always", () => {
    expect(matchesVersion({ always: true }, "")).toBe(true);
  });
});

describe("versionLabel", () => {
  it("names the versions a rule covers", () => {
    expect(versionLabel({ prefix: "23.05" })).toBe("23.05");
    expect(versionLabel({ exact: "SNAPSHOT" })).toBe("SNAPSHOT");
    expect(versionLabel({ atLeast: "24.10" })).toBe("24.10 and newer");
    expect(versionLabel({ always: true })).toBe("every version");
  });
});
