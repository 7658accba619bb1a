import { describe, expect, it } from "vitest";
import { applyServerRules } from "./package-resolution.ts";
import { matchesVersion, PACKAGE_RULES, versionLabel } from "./package-rules.ts";

const PHY22F = ["xrx200-rev1.1-phy22f-firmware", "xrx200-rev1.2-phy22f-firmware"];
const PHY11G = ["xrx200-rev1.1-phy11g-firmware", "xrx200-rev1.2-phy11g-firmware"];

/**
 * The contract's device additions, written out independently of the rule
 * data: version, target, the profiles (null = any profile), and exactly what an
 * empty request gains, in order.
 */
const CONTRACT_ADDITIONS: [string, string, string[] | null, string[]][] = [
  ["23.05.5", "mediatek/mt7622", null, ["kmod-mt7622-firmware"]],
  [
    "23.05.5",
    "ath79/generic",
    [
      "buffalo_wzr-hp-g300nh-s",
      "dlink_dir-825-b1",
      "netgear_wndr3700",
      "netgear_wndr3700-v2",
      "netgear_wndr3800",
      "netgear_wndr3800ch",
      "netgear_wndrmac-v1",
      "netgear_wndrmac-v2",
      "trendnet_tew-673gru",
    ],
    ["kmod-switch-rtl8366s"],
  ],
  ["23.05.5", "ath79/generic", ["buffalo_wzr-hp-g300nh-rb"], ["kmod-switch-rtl8366rb"]],
  ["24.10.0", "ath79/generic", ["tplink_archer-c6-v2"], ["ipq-wifi-tplink_archer-c6-v2"]],
  ["24.10.0", "ipq40xx/generic", ["tplink_archer-c6-v2"], ["ipq-wifi-tplink_archer-c6-v2"]],
  ["24.10.0", "mediatek/filogic", null, ["fitblk"]],
  ["24.10.0", "mediatek/mt7622", null, ["fitblk"]],
  ["24.10.0", "mediatek/mt7623", null, ["fitblk"]],
  [
    "25.12.0",
    "kirkwood/generic",
    [
      "checkpoint_l-50",
      "endian_4i-edge-200",
      "linksys_e4200-v2",
      "linksys_ea3500",
      "linksys_ea4500",
    ],
    ["kmod-dsa-mv88e6xxx"],
  ],
  [
    "25.12.0",
    "mvebu/cortexa9",
    [
      "cznic_turris-omnia",
      "fortinet_fg-30e",
      "fortinet_fwf-30e",
      "fortinet_fg-50e",
      "fortinet_fg-51e",
      "fortinet_fg-52e",
      "fortinet_fwf-50e-2r",
      "fortinet_fwf-51e",
      "iij_sa-w2",
      "linksys_wrt1200ac",
      "linksys_wrt1900acs",
      "linksys_wrt1900ac-v1",
      "linksys_wrt1900ac-v2",
      "linksys_wrt3200acm",
      "linksys_wrt32x",
      "marvell_a370-rd",
    ],
    ["kmod-dsa-mv88e6xxx"],
  ],
  [
    "25.12.0",
    "mvebu/cortexa53",
    [
      "glinet_gl-mv1000",
      "globalscale_espressobin",
      "globalscale_espressobin-emmc",
      "globalscale_espressobin-ultra",
      "globalscale_espressobin-v7",
      "globalscale_espressobin-v7-emmc",
      "methode_udpu",
    ],
    ["kmod-dsa-mv88e6xxx"],
  ],
  [
    "25.12.0",
    "mvebu/cortexa72",
    [
      "checkpoint_v-80",
      "checkpoint_v-81",
      "globalscale_mochabin",
      "mikrotik_rb5009",
      "solidrun_clearfog-pro",
    ],
    ["kmod-dsa-mv88e6xxx"],
  ],
  ["25.12.0", "lantiq/xrx200", null, ["kmod-dsa-gswip"]],
  [
    "25.12.0",
    "lantiq/xrx200",
    [
      "arcadyan_arv7519rw22",
      "arcadyan_vgv7510kw22-brn",
      "arcadyan_vgv7510kw22-nor",
      "avm_fritz7412",
      "avm_fritz7430",
      "buffalo_wbmr-300hpd",
    ],
    ["kmod-dsa-gswip", ...PHY22F],
  ],
  [
    "25.12.0",
    "lantiq/xrx200",
    [
      "tplink_vr200",
      "tplink_vr200v",
      "arcadyan_vgv7519-brn",
      "arcadyan_vgv7519-nor",
      "arcadyan_vrv9510kwac23",
      "avm_fritz3370-rev2-hynix",
      "avm_fritz3370-rev2-micron",
      "avm_fritz3390",
      "avm_fritz3490",
      "avm_fritz3490-micron",
      "avm_fritz5490",
      "avm_fritz5490-micron",
      "avm_fritz7360sl",
      "avm_fritz7360-v2",
      "avm_fritz7362sl",
      "avm_fritz7490",
      "avm_fritz7490-micron",
      "bt_homehub-v5a",
      "lantiq_easy80920-nand",
      "lantiq_easy80920-nor",
      "zyxel_p-2812hnu-f1",
      "zyxel_p-2812hnu-f3",
    ],
    ["kmod-dsa-gswip", ...PHY11G],
  ],
  ["25.12.0", "lantiq/xrx200_legacy", null, ["kmod-dsa-gswip"]],
  [
    "25.12.0",
    "lantiq/xrx200_legacy",
    ["alphanetworks_asl56026", "netgear_dm200"],
    ["kmod-dsa-gswip", ...PHY22F],
  ],
  [
    "25.12.0",
    "lantiq/xrx200_legacy",
    ["tplink_tdw8970", "tplink_tdw8980", "arcadyan_vg3503j"],
    ["kmod-dsa-gswip", ...PHY11G],
  ],
  ["25.12.0", "bcm53xx/generic", ["meraki_mr32"], ["kmod-hci-uart"]],
  ["25.12.0", "ipq40xx/generic", ["linksys_whw03", "linksys_whw03v2"], ["kmod-hci-uart"]],
  [
    "25.12.0",
    "qualcommax/ipq807x",
    ["linksys_mx4200v1", "linksys_mx8500", "zyxel_nbg7815"],
    ["kmod-hci-uart"],
  ],
  ["25.12.0", "ath79/mikrotik", null, ["kmod-ag71xx-legacy"]],
];

const added = (version: string, target: string, profile: string) =>
  applyServerRules({ version, target, profile, packages: [] }).packages;

describe("device additions", () => {
  for (const [version, target, profiles, expected] of CONTRACT_ADDITIONS) {
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
    for (const [version, target, profiles] of CONTRACT_ADDITIONS) {
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
    expect(PACKAGE_RULES.filter((rule) => rule.kind !== "add")).toEqual([
      {
        kind: "replace",
        when: { prefix: "24.10" },
        from: "auc",
        to: "owut",
        reason: "Package renamed in 24.10",
      },
      {
        kind: "remove",
        when: { exact: "SNAPSHOT" },
        remove: ["kmod-nf-conntrack6", "kmod-lib-crc32c"],
        reason: "Package removed in SNAPSHOT",
      },
      {
        kind: "remove-matching",
        when: { always: true },
        pattern: /^luci-i18n-.*-en$/,
        reason: "English is built into LuCI; there is no English language pack",
      },
      {
        kind: "rename-prefix",
        when: { atLeast: "24.10" },
        fromPrefix: "luci-i18n-opkg-",
        toPrefix: "luci-i18n-package-manager-",
        reason: "Language pack renamed in 24.10",
      },
    ]);
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
