/**
 * The server-side package rules (contract "Server-side package rules"): what
 * /build changes in a request by itself and what prepare reports. One record
 * per rule, applied in this order; adding a rule is adding a line.
 */

/** Which versions a rule applies to. */
export type VersionMatch =
  /** `version.startsWith(prefix)`, as the Python server matches release branches. */
  | { prefix: string }
  | { exact: string }
  /** Plain string comparison `version >= min`, as in Python, so SNAPSHOT qualifies. */
  | { atLeast: string }
  | { always: true };

/** Adds packages a target or profile needs (change type `device`). */
export interface AddRule {
  kind: "add";
  when: VersionMatch;
  /** Any of these targets; absent = every target. */
  targets?: readonly string[];
  /** Any of these profiles (exact ids); absent = every profile. */
  profiles?: readonly string[];
  add: readonly string[];
}

/** Replaces one package by another in place (change type `migration`). */
export interface ReplaceRule {
  kind: "replace";
  when: VersionMatch;
  from: string;
  to: string;
  reason: string;
}

/** Drops packages (change type `migration`). */
export interface RemoveRule {
  kind: "remove";
  when: VersionMatch;
  remove: readonly string[];
  reason: string;
}

/** Renames every package with a prefix, keeping the suffix (change type `language`). */
export interface RenamePrefixRule {
  kind: "rename-prefix";
  when: VersionMatch;
  fromPrefix: string;
  toPrefix: string;
  reason: string;
}

/** Drops every package matching a pattern (change type `language`). */
export interface RemoveMatchingRule {
  kind: "remove-matching";
  when: VersionMatch;
  pattern: RegExp;
  reason: string;
}

export type PackageRule =
  | AddRule
  | ReplaceRule
  | RemoveRule
  | RenamePrefixRule
  | RemoveMatchingRule;

const PHY22F = ["xrx200-rev1.1-phy22f-firmware", "xrx200-rev1.2-phy22f-firmware"] as const;
const PHY11G = ["xrx200-rev1.1-phy11g-firmware", "xrx200-rev1.2-phy11g-firmware"] as const;

export const PACKAGE_RULES: readonly PackageRule[] = [
  // 23.05
  {
    kind: "add",
    when: { prefix: "23.05" },
    targets: ["mediatek/mt7622"],
    add: ["kmod-mt7622-firmware"],
  },
  {
    kind: "add",
    when: { prefix: "23.05" },
    targets: ["ath79/generic"],
    profiles: [
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
    add: ["kmod-switch-rtl8366s"],
  },
  {
    kind: "add",
    when: { prefix: "23.05" },
    targets: ["ath79/generic"],
    profiles: ["buffalo_wzr-hp-g300nh-rb"],
    add: ["kmod-switch-rtl8366rb"],
  },

  // 24.10
  {
    kind: "replace",
    when: { prefix: "24.10" },
    from: "auc",
    to: "owut",
    reason: "Package renamed in 24.10",
  },
  {
    kind: "add",
    when: { prefix: "24.10" },
    profiles: ["tplink_archer-c6-v2"],
    add: ["ipq-wifi-tplink_archer-c6-v2"],
  },
  {
    kind: "add",
    when: { prefix: "24.10" },
    targets: ["mediatek/filogic", "mediatek/mt7622", "mediatek/mt7623"],
    add: ["fitblk"],
  },

  // 25.12
  {
    kind: "add",
    when: { prefix: "25.12" },
    targets: ["kirkwood/generic"],
    profiles: [
      "checkpoint_l-50",
      "endian_4i-edge-200",
      "linksys_e4200-v2",
      "linksys_ea3500",
      "linksys_ea4500",
    ],
    add: ["kmod-dsa-mv88e6xxx"],
  },
  {
    kind: "add",
    when: { prefix: "25.12" },
    targets: ["mvebu/cortexa9"],
    profiles: [
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
    add: ["kmod-dsa-mv88e6xxx"],
  },
  {
    kind: "add",
    when: { prefix: "25.12" },
    targets: ["mvebu/cortexa53"],
    profiles: [
      "glinet_gl-mv1000",
      "globalscale_espressobin",
      "globalscale_espressobin-emmc",
      "globalscale_espressobin-ultra",
      "globalscale_espressobin-v7",
      "globalscale_espressobin-v7-emmc",
      "methode_udpu",
    ],
    add: ["kmod-dsa-mv88e6xxx"],
  },
  {
    kind: "add",
    when: { prefix: "25.12" },
    targets: ["mvebu/cortexa72"],
    profiles: [
      "checkpoint_v-80",
      "checkpoint_v-81",
      "globalscale_mochabin",
      "mikrotik_rb5009",
      "solidrun_clearfog-pro",
    ],
    add: ["kmod-dsa-mv88e6xxx"],
  },
  {
    kind: "add",
    when: { prefix: "25.12" },
    targets: ["lantiq/xrx200", "lantiq/xrx200_legacy"],
    add: ["kmod-dsa-gswip"],
  },
  {
    kind: "add",
    when: { prefix: "25.12" },
    targets: ["lantiq/xrx200"],
    profiles: [
      "arcadyan_arv7519rw22",
      "arcadyan_vgv7510kw22-brn",
      "arcadyan_vgv7510kw22-nor",
      "avm_fritz7412",
      "avm_fritz7430",
      "buffalo_wbmr-300hpd",
    ],
    add: PHY22F,
  },
  {
    kind: "add",
    when: { prefix: "25.12" },
    targets: ["lantiq/xrx200"],
    profiles: [
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
    add: PHY11G,
  },
  {
    kind: "add",
    when: { prefix: "25.12" },
    targets: ["lantiq/xrx200_legacy"],
    profiles: ["alphanetworks_asl56026", "netgear_dm200"],
    add: PHY22F,
  },
  {
    kind: "add",
    when: { prefix: "25.12" },
    targets: ["lantiq/xrx200_legacy"],
    profiles: ["tplink_tdw8970", "tplink_tdw8980", "arcadyan_vg3503j"],
    add: PHY11G,
  },
  {
    kind: "add",
    when: { prefix: "25.12" },
    targets: ["bcm53xx/generic"],
    profiles: ["meraki_mr32"],
    add: ["kmod-hci-uart"],
  },
  {
    kind: "add",
    when: { prefix: "25.12" },
    targets: ["ipq40xx/generic"],
    profiles: ["linksys_whw03", "linksys_whw03v2"],
    add: ["kmod-hci-uart"],
  },
  {
    kind: "add",
    when: { prefix: "25.12" },
    targets: ["qualcommax/ipq807x"],
    profiles: ["linksys_mx4200v1", "linksys_mx8500", "zyxel_nbg7815"],
    add: ["kmod-hci-uart"],
  },
  {
    kind: "add",
    when: { prefix: "25.12" },
    targets: ["ath79/mikrotik"],
    add: ["kmod-ag71xx-legacy"],
  },

  // SNAPSHOT (main)
  {
    kind: "remove",
    when: { exact: "SNAPSHOT" },
    remove: ["kmod-nf-conntrack6", "kmod-lib-crc32c"],
    reason: "Package removed in SNAPSHOT",
  },

  // Language packs. The English removal runs first so that
  // `luci-i18n-opkg-en` is reported once, as removed, not renamed then removed.
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
];

export function matchesVersion(when: VersionMatch, version: string): boolean {
  if ("prefix" in when) return version.startsWith(when.prefix);
  if ("exact" in when) return version === when.exact;
  if ("atLeast" in when) return version >= when.atLeast;
  return true;
}

/** The version label used in reasons: "23.05", "SNAPSHOT", "24.10 and newer". */
export function versionLabel(when: VersionMatch): string {
  if ("prefix" in when) return when.prefix;
  if ("exact" in when) return when.exact;
  if ("atLeast" in when) return `${when.atLeast} and newer`;
  return "every version";
}
