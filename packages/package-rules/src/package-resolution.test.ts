import { branchesFromTable, DEFAULT_BRANCHES, PACKAGE_CHANGES } from "@asu/openwrt-releases";
import { describe, expect, it } from "vitest";
import { contractChangesOf } from "../../../test/support/contract-tables.ts";
import type { ChangeRecord, ResolveInput } from "./package-resolution.ts";
import {
  applyServerRules,
  migrationsBetween,
  packagesForBuild,
  resolvePackages,
  stripPlus,
} from "./package-resolution.ts";
import { PACKAGE_RULES } from "./package-rules.ts";

const resolve = (input: Partial<ResolveInput> & { packages: string[] }) =>
  resolvePackages({
    version: "24.10.0",
    target: "ath79/generic",
    profile: "tplink_archer-c7-v5",
    branches: DEFAULT_BRANCHES,
    ...input,
  });

const change = (
  type: ChangeRecord["type"],
  action: ChangeRecord["action"],
  from_package: string | null,
  to_package: string | null,
  reason: string,
): ChangeRecord => ({ type, action, from_package, to_package, reason, automatic: true });

describe("resolvePackages: the seed example", () => {
  it("replaces auc by owut once, though both the table and the 24.10 rule cover it", () => {
    expect(resolve({ packages: ["luci", "auc"], fromVersion: "23.05.0" })).toEqual({
      packages: ["luci", "owut"],
      changes: [change("migration", "replace", "auc", "owut", "Package renamed in 24.10")],
    });
  });

  it("gives the same answer from the 24.10 rule alone, without from_version", () => {
    expect(resolve({ packages: ["luci", "auc"] })).toEqual({
      packages: ["luci", "owut"],
      changes: [change("migration", "replace", "auc", "owut", "Package renamed in 24.10")],
    });
  });
});

describe("resolvePackages: package-changes migrations", () => {
  it("applies every change between the two branch-off revisions, in place", () => {
    const result = resolve({
      version: "SNAPSHOT",
      fromVersion: "21.02.7",
      packages: [
        "firewall",
        "luci",
        "kmod-nft-nat6",
        "libustream-wolfssl",
        "px5g-wolfssl",
        "wpad-basic-wolfssl",
        "luci-app-diag-core",
        "auc",
        "luci-app-opkg",
        "opkg",
      ],
    });
    expect(result.packages).toEqual([
      "firewall4",
      "luci",
      "libustream-mbedtls",
      "px5g-mbedtls",
      "wpad-basic-mbedtls",
      "owut",
      "luci-app-package-manager",
      "apk-mbedtls",
    ]);
    expect(result.changes).toEqual([
      change("migration", "replace", "firewall", "firewall4", "Package renamed in 22.03"),
      change("migration", "remove", "kmod-nft-nat6", null, "Package removed in 23.05"),
      change(
        "migration",
        "replace",
        "libustream-wolfssl",
        "libustream-mbedtls",
        "Package renamed in 23.05",
      ),
      change("migration", "replace", "px5g-wolfssl", "px5g-mbedtls", "Package renamed in 23.05"),
      change(
        "migration",
        "replace",
        "wpad-basic-wolfssl",
        "wpad-basic-mbedtls",
        "Package renamed in 23.05",
      ),
      change("migration", "remove", "luci-app-diag-core", null, "Package removed in 24.10"),
      change("migration", "replace", "auc", "owut", "Package renamed in 24.10"),
      change(
        "migration",
        "replace",
        "luci-app-opkg",
        "luci-app-package-manager",
        "Package renamed in 24.10",
      ),
      change("migration", "replace", "opkg", "apk-mbedtls", "Package renamed in 25.12"),
    ]);
  });

  it("leaves changes after the target's branch-off alone", () => {
    const result = resolve({ fromVersion: "23.05.5", packages: ["opkg", "luci-app-opkg"] });
    expect(result.packages).toEqual(["opkg", "luci-app-package-manager"]);
  });

  it("leaves changes the device already has alone", () => {
    const result = resolve({ fromVersion: "22.03.7", version: "23.05.5", packages: ["firewall"] });
    expect(result).toEqual({ packages: ["firewall"], changes: [] });
  });

  it("treats the lower bound as exclusive and the upper one as inclusive", () => {
    const branches = branchesFromTable(
      [
        { name: "SNAPSHOT" },
        { name: "2.0", branch_off_rev: 20 },
        { name: "1.0", branch_off_rev: 10 },
      ],
      [
        { source: "at-ten", target: "ten", revision: 10 },
        { source: "at-twenty", target: "twenty", revision: 20 },
        { source: "at-thirty", target: "thirty", revision: 30 },
      ],
    );
    const result = resolvePackages({
      version: "2.0.1",
      fromVersion: "1.0.3",
      target: "t/s",
      profile: "p",
      packages: ["at-ten", "at-twenty", "at-thirty"],
      branches,
    });
    expect(result.packages).toEqual(["at-ten", "twenty", "at-thirty"]);
  });

  it("applies the mandatory removals too, when requested", () => {
    const result = resolve({ fromVersion: "22.03.7", packages: ["kmod-nft-nat6", "luci"] });
    expect(result).toEqual({
      packages: ["luci"],
      changes: [change("migration", "remove", "kmod-nft-nat6", null, "Package removed in 23.05")],
    });
  });

  it("counts a branch snapshot as its branch-off revision, on both ends", () => {
    expect(
      resolve({ fromVersion: "23.05-SNAPSHOT", version: "24.10-SNAPSHOT", packages: ["auc"] })
        .packages,
    ).toEqual(["owut"]);
    expect(
      resolve({ fromVersion: "24.10-SNAPSHOT", version: "24.10.0", packages: ["luci-app-opkg"] })
        .packages,
    ).toEqual(["luci-app-opkg"]);
  });

  it("migrates nothing when upgrading from SNAPSHOT or downgrading", () => {
    expect(resolve({ fromVersion: "SNAPSHOT", packages: ["luci-app-opkg"] }).packages).toEqual([
      "luci-app-opkg",
    ]);
    expect(
      resolve({ fromVersion: "25.12.0", version: "23.05.5", packages: ["firewall"] }).packages,
    ).toEqual(["firewall"]);
  });

  it("migrates nothing from a version of an unknown branch", () => {
    expect(resolve({ fromVersion: "19.07.10", packages: ["luci-app-opkg"] }).packages).toEqual([
      "luci-app-opkg",
    ]);
  });

  it("ignores an empty or null from_version", () => {
    expect(resolve({ fromVersion: "", packages: ["luci-app-opkg"] }).changes).toEqual([]);
    expect(resolve({ fromVersion: null, packages: ["luci-app-opkg"] }).changes).toEqual([]);
  });

  it("drops the old name when the new one is already requested", () => {
    expect(resolve({ fromVersion: "23.05.5", packages: ["owut", "luci", "auc"] })).toEqual({
      packages: ["owut", "luci"],
      changes: [change("migration", "replace", "auc", "owut", "Package renamed in 24.10")],
    });
  });

  it("follows chained renames in revision order", () => {
    const branches = branchesFromTable(
      [{ name: "SNAPSHOT" }, { name: "1.0", branch_off_rev: 1 }],
      [
        { source: "b", target: "c", revision: 3 },
        { source: "a", target: "b", revision: 2 },
      ],
    );
    const result = resolvePackages({
      version: "SNAPSHOT",
      fromVersion: "1.0.0",
      target: "t/s",
      profile: "p",
      packages: ["x", "a"],
      branches,
    });
    expect(result.packages).toEqual(["x", "c"]);
    expect(result.changes.map((c) => [c.from_package, c.to_package, c.reason])).toEqual([
      ["a", "b", "Package renamed in SNAPSHOT"],
      ["b", "c", "Package renamed in SNAPSHOT"],
    ]);
  });
});

describe("migrationsBetween", () => {
  it("selects (from, to] from the target branch's changes", () => {
    const since2305 = new Set(contractChangesOf("23.05"));
    expect(migrationsBetween("23.05.0", "24.10.0", DEFAULT_BRANCHES)).toEqual(
      contractChangesOf("24.10").filter((change) => !since2305.has(change)),
    );
    expect(migrationsBetween("21.02.0", "SNAPSHOT", DEFAULT_BRANCHES)).toEqual(PACKAGE_CHANGES);
  });

  it("is empty when either branch is unknown", () => {
    expect(migrationsBetween("19.07.10", "24.10.0", DEFAULT_BRANCHES)).toEqual([]);
    expect(migrationsBetween("23.05.0", "26.06.0", DEFAULT_BRANCHES)).toEqual([]);
  });

  it("uses the target branch's own list, as a branches file may trim it", () => {
    const branches = branchesFromTable([
      { name: "23.05", branch_off_rev: 23069 },
      { name: "24.10", branch_off_rev: 27990, package_changes: [] },
    ]);
    expect(migrationsBetween("23.05.0", "24.10.0", branches)).toEqual([]);
  });
});

describe("resolvePackages: server-side rules", () => {
  it("appends a device package after the requested ones", () => {
    expect(
      resolve({
        version: "23.05.5",
        profile: "netgear_wndr3700",
        packages: ["luci", "kmod-ath9k-htc"],
      }),
    ).toEqual({
      packages: ["luci", "kmod-ath9k-htc", "kmod-switch-rtl8366s"],
      changes: [
        change(
          "device",
          "add",
          null,
          "kmod-switch-rtl8366s",
          "Required for netgear_wndr3700 (ath79/generic) in 23.05",
        ),
      ],
    });
  });

  it("gives target-wide additions a target reason", () => {
    expect(resolve({ target: "mediatek/filogic", profile: "openwrt_one", packages: [] })).toEqual({
      packages: ["fitblk"],
      changes: [change("device", "add", null, "fitblk", "Required for mediatek/filogic in 24.10")],
    });
  });

  it("does not add or report a package already requested", () => {
    expect(
      resolve({
        version: "23.05.5",
        profile: "netgear_wndr3700",
        packages: ["kmod-switch-rtl8366s", "luci"],
      }),
    ).toEqual({ packages: ["kmod-switch-rtl8366s", "luci"], changes: [] });
  });

  it("reports each addition of a rule with two packages", () => {
    const result = resolve({
      version: "25.12.0",
      target: "lantiq/xrx200_legacy",
      profile: "netgear_dm200",
      packages: ["xrx200-rev1.2-phy22f-firmware"],
    });
    expect(result.packages).toEqual([
      "xrx200-rev1.2-phy22f-firmware",
      "kmod-dsa-gswip",
      "xrx200-rev1.1-phy22f-firmware",
    ]);
    expect(result.changes).toEqual([
      change("device", "add", null, "kmod-dsa-gswip", "Required for lantiq/xrx200_legacy in 25.12"),
      change(
        "device",
        "add",
        null,
        "xrx200-rev1.1-phy22f-firmware",
        "Required for netgear_dm200 (lantiq/xrx200_legacy) in 25.12",
      ),
    ]);
  });

  it("removes the SNAPSHOT-only packages wherever they are", () => {
    expect(
      resolve({
        version: "SNAPSHOT",
        packages: ["a", "kmod-nf-conntrack", "kmod-lib-crc32c", "c", "kmod-nf-conntrack6", "d"],
      }),
    ).toEqual({
      packages: ["a", "kmod-nf-conntrack", "c", "d"],
      changes: [
        change("migration", "remove", "kmod-nf-conntrack6", null, "Package removed in SNAPSHOT"),
        change("migration", "remove", "kmod-lib-crc32c", null, "Package removed in SNAPSHOT"),
      ],
    });
  });

  it("keeps the SNAPSHOT removals to SNAPSHOT itself", () => {
    for (const version of ["24.10-SNAPSHOT", "25.12.0"]) {
      expect(resolve({ version, packages: ["kmod-nf-conntrack6"] }).packages).toEqual([
        "kmod-nf-conntrack6",
      ]);
    }
  });

  it("replaces auc in place on 24.10 only", () => {
    expect(resolve({ packages: ["auc", "luci"] }).packages).toEqual(["owut", "luci"]);
    expect(resolve({ version: "23.05.5", packages: ["auc"] }).packages).toEqual(["auc"]);
    expect(resolve({ version: "25.12.0", packages: ["auc"] }).packages).toEqual(["auc"]);
  });

  it("replaces every copy of a duplicated name and leaves one", () => {
    expect(resolve({ packages: ["auc", "luci", "auc"] }).packages).toEqual(["owut", "luci"]);
  });
});

describe("resolvePackages: language packs", () => {
  it("renames opkg language packs in place from 24.10 and drops English ones", () => {
    const result = resolve({
      packages: [
        "luci-i18n-opkg-ko",
        "luci-i18n-base-en",
        "luci-i18n-xinetd-lt",
        "luci-i18n-opkg-en",
        "luci-i18n-opkg-zh-cn",
      ],
    });
    expect(result).toEqual({
      packages: [
        "luci-i18n-package-manager-ko",
        "luci-i18n-xinetd-lt",
        "luci-i18n-package-manager-zh-cn",
      ],
      changes: [
        change(
          "language",
          "remove",
          "luci-i18n-base-en",
          null,
          "English is built into LuCI; there is no English language pack",
        ),
        change(
          "language",
          "remove",
          "luci-i18n-opkg-en",
          null,
          "English is built into LuCI; there is no English language pack",
        ),
        change(
          "language",
          "replace",
          "luci-i18n-opkg-ko",
          "luci-i18n-package-manager-ko",
          "Language pack renamed in 24.10",
        ),
        change(
          "language",
          "replace",
          "luci-i18n-opkg-zh-cn",
          "luci-i18n-package-manager-zh-cn",
          "Language pack renamed in 24.10",
        ),
      ],
    });
  });

  it("renames on SNAPSHOT and branch snapshots from 24.10, not before", () => {
    for (const version of ["SNAPSHOT", "24.10-SNAPSHOT", "25.12.0", "24.10.0-rc1"]) {
      expect(resolve({ version, packages: ["luci-i18n-opkg-de"] }).packages, version).toEqual([
        "luci-i18n-package-manager-de",
      ]);
    }
    for (const version of ["23.05.5", "23.05-SNAPSHOT", "22.03.7"]) {
      expect(resolve({ version, packages: ["luci-i18n-opkg-de"] }).packages, version).toEqual([
        "luci-i18n-opkg-de",
      ]);
    }
  });

  it("drops English packs on every version", () => {
    for (const version of ["21.02.7", "23.05.5", "SNAPSHOT"]) {
      expect(resolve({ version, packages: ["luci-i18n-firewall-en", "luci"] }).packages).toEqual([
        "luci",
      ]);
    }
  });

  it("keeps packages that merely resemble an English pack", () => {
    const packages = ["luci-i18n-en", "luci-i18n-base-en-gb", "luci-app-en", "xluci-i18n-base-en"];
    expect(resolve({ version: "23.05.5", packages })).toEqual({ packages, changes: [] });
  });

  it("drops the old language pack when the renamed one is already requested", () => {
    expect(
      resolve({ packages: ["luci-i18n-package-manager-de", "luci-i18n-opkg-de"] }).packages,
    ).toEqual(["luci-i18n-package-manager-de"]);
  });
});

describe("resolvePackages: input handling", () => {
  it("strips one leading + and reports nothing for it", () => {
    expect(resolve({ version: "23.05.5", packages: ["+luci", "++x", "a+"] })).toEqual({
      packages: ["luci", "+x", "a+"],
      changes: [],
    });
  });

  it("applies the rules to names that came with a +", () => {
    expect(resolve({ packages: ["+auc"] }).packages).toEqual(["owut"]);
  });

  it("does not modify its input", () => {
    const packages = ["auc", "luci-i18n-opkg-de"];
    resolve({ packages, fromVersion: "23.05.0" });
    expect(packages).toEqual(["auc", "luci-i18n-opkg-de"]);
  });

  it("reports no change for an empty list on a version without rules", () => {
    expect(resolve({ version: "22.03.7", packages: [] })).toEqual({ packages: [], changes: [] });
  });
});

describe("stripPlus", () => {
  it("removes exactly one leading plus", () => {
    expect(stripPlus(["+a", "b", "++c", "+", ""])).toEqual(["a", "b", "+c", "", ""]);
  });
});

describe("applyServerRules", () => {
  it("applies the rules without migrations, the same as resolvePackages without from_version", () => {
    const input = {
      version: "24.10.0",
      target: "mediatek/filogic",
      profile: "tplink_archer-c6-v2",
      packages: ["+auc", "luci-app-opkg", "luci-i18n-opkg-fr", "luci-i18n-base-en"],
    };
    expect(applyServerRules(input)).toEqual(
      resolvePackages({ ...input, branches: DEFAULT_BRANCHES }),
    );
    expect(applyServerRules(input).packages).toEqual([
      "owut",
      "luci-app-opkg",
      "luci-i18n-package-manager-fr",
      "ipq-wifi-tplink_archer-c6-v2",
      "fitblk",
    ]);
  });

  it("runs a given rule list instead of the default one", () => {
    const result = applyServerRules(
      { version: "1.0", target: "t/s", profile: "p", packages: ["a"] },
      [
        { kind: "add", when: { always: true }, add: ["b"] },
        { kind: "replace", when: { exact: "1.0" }, from: "a", to: "c", reason: "because" },
      ],
    );
    expect(result).toEqual({
      packages: ["c", "b"],
      changes: [
        change("device", "add", null, "b", "Required for t/s in every version"),
        change("migration", "replace", "a", "c", "because"),
      ],
    });
  });
});

describe("resolution is idempotent", () => {
  const versions = [
    "21.02.7",
    "22.03.7",
    "23.05.5",
    "23.05-SNAPSHOT",
    "24.10.0-rc6",
    "24.10.0",
    "24.10-SNAPSHOT",
    "25.12.0",
    "SNAPSHOT",
  ];
  const devices = new Map<string, Set<string>>([
    ["ath79/generic", new Set(["tplink_archer-c7-v5"])],
  ]);
  const named = new Set<string>(["luci", "luci-i18n-opkg-de", "luci-i18n-base-en"]);
  for (const rule of PACKAGE_RULES) {
    if (rule.kind === "add") {
      for (const target of rule.targets ?? ["ath79/generic"]) {
        const profiles = devices.get(target) ?? new Set<string>(["some_other_device"]);
        for (const profile of rule.profiles ?? []) profiles.add(profile);
        devices.set(target, profiles);
      }
      for (const name of rule.add) named.add(name);
    }
    if (rule.kind === "replace") named.add(rule.from).add(rule.to);
    if (rule.kind === "remove") for (const name of rule.remove) named.add(name);
  }
  for (const entry of PACKAGE_CHANGES) {
    named.add(entry.source);
    if (entry.target) named.add(entry.target);
  }
  const everything = [...named];
  const half = everything.filter((_, i) => i % 2 === 0);

  it("changes nothing when resolving a resolved list, for every rule, device and version", () => {
    let resolutions = 0;
    // Collected and compared once: ten thousand expect() calls cost seconds.
    const unstable: string[] = [];
    for (const version of versions) {
      for (const fromVersion of [null, ...versions]) {
        for (const [target, profiles] of devices) {
          for (const profile of profiles) {
            for (const packages of [[], half, everything]) {
              const input = { version, fromVersion, target, profile, branches: DEFAULT_BRANCHES };
              const first = resolvePackages({ ...input, packages });
              const second = resolvePackages({ ...input, packages: first.packages });
              const same =
                second.packages.length === first.packages.length &&
                second.packages.every((name, i) => name === first.packages[i]);
              const unique = new Set(first.packages).size === first.packages.length;
              if (!same || second.changes.length > 0 || !unique) {
                unstable.push(
                  `${version} from ${fromVersion} ${target} ${profile} ${packages.length}`,
                );
              }
              resolutions++;
            }
          }
        }
      }
    }
    expect(resolutions).toBeGreaterThan(10_000);
    expect(unstable).toEqual([]);
  });
});

describe("packagesForBuild", () => {
  const request = {
    version: "24.10.0",
    target: "ath79/generic",
    profile: "tplink_archer-c7-v5",
    packages: ["+luci", "auc"],
    packages_versions: {},
  };

  it("applies the server-side rules to a legacy request", () => {
    expect(packagesForBuild(request, { skipPackageResolution: false })).toEqual(["luci", "owut"]);
  });

  it("builds a prepared request as sent, without its plus signs", () => {
    expect(packagesForBuild(request, { skipPackageResolution: true })).toEqual(["luci", "auc"]);
  });

  it("lets pinned names replace packages for legacy requests", () => {
    const pinned = { ...request, packages_versions: { auc: "1.0" } };
    expect(packagesForBuild(pinned, { skipPackageResolution: false })).toEqual(["owut"]);
  });
});
