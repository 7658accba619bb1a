import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { checkRevision, parseMakeInfo } from "./make-info.ts";

const fixture = readFileSync(
  new URL("./fixtures/make-info-testtarget.txt", import.meta.url),
  "utf8",
);

// Shape of a 24.10 / apk era ImageBuilder (x86/64, one generic profile).
const x86Info = [
  'Current Target: "x86/64"',
  'Current Architecture: "x86_64"',
  'Current Revision: "r28114-84665993d6"',
  "Default Packages: base-files ca-bundle dropbear fstools libc libgcc   logd mtd",
  "Available Profiles:",
  "",
  "generic:",
  "    Generic x86/64",
  "    Packages: kmod-amazon-ena kmod-amd-xgbe kmod-bnx2 kmod-e1000e",
  "    hasImageMetadata: 0",
  "    SupportedDevices: ",
  "",
].join("\n");

describe("parseMakeInfo", () => {
  it("reads the ImageBuilder's make info output", () => {
    const info = parseMakeInfo(fixture);
    expect(info.target).toBe("testtarget/testsubtarget");
    expect(info.revision).toBe("r12647-cb44ab4f5d");
    expect(info.defaultPackages).toEqual([
      "base-files",
      "libc",
      "libgcc",
      "busybox",
      "dropbear",
      "mtd",
      "uci",
      "opkg",
      "netifd",
      "fstools",
      "uclient-fetch",
      "logd",
      "urandom-seed",
      "urngd",
      "kmod-gpio-button-hotplug",
      "swconfig",
      "kmod-ath9k",
      "uboot-envtools",
      "wpad-basic",
      "dnsmasq",
      "iptables",
      "ip6tables",
      "ppp",
      "ppp-mod-pppoe",
      "firewall",
      "odhcpd-ipv6only",
      "odhcp6c",
      "kmod-ipt-offload",
    ]);
    expect(info.profiles).toEqual({
      Default: {
        title: "Default Profile (all drivers)",
        packages: ["iwinfo"],
        supportedDevices: [],
      },
      "8dev_carambola2": {
        title: "8devices Carambola2",
        packages: ["kmod-usb2", "kmod-usb-chipidea2"],
        supportedDevices: ["8dev,carambola2", "carambola2"],
      },
      testprofile: {
        title: "Testprofile",
        packages: ["kmod-usb2", "kmod-usb-chipidea2", "kmod-usb-storage", "-swconfig"],
        supportedDevices: ["testvendor,testprofile", "testprofile"],
      },
    });
  });

  it("reads an apk-era output with extra header lines and empty fields", () => {
    const info = parseMakeInfo(x86Info);
    expect(info.target).toBe("x86/64");
    expect(info.revision).toBe("r28114-84665993d6");
    expect(info.defaultPackages).toEqual([
      "base-files",
      "ca-bundle",
      "dropbear",
      "fstools",
      "libc",
      "libgcc",
      "logd",
      "mtd",
    ]);
    expect(info.profiles).toEqual({
      generic: {
        title: "Generic x86/64",
        packages: ["kmod-amazon-ena", "kmod-amd-xgbe", "kmod-bnx2", "kmod-e1000e"],
        supportedDevices: [],
      },
    });
  });

  it("keeps profiles whose id ends another id apart", () => {
    const info = parseMakeInfo(
      [
        "xtestprofile:",
        "    X Test",
        "    Packages: wrong-package",
        "testprofile:",
        "    Test",
        "    Packages: right-package",
      ].join("\n"),
    );
    expect(info.profiles.testprofile?.packages).toEqual(["right-package"]);
    expect(info.profiles.xtestprofile?.packages).toEqual(["wrong-package"]);
  });

  it("takes the first indented line as the title even when it holds a colon", () => {
    const info = parseMakeInfo(
      ["p1:", "    Vendor: Model 2", "    Packages: a", "    Unknown: ignored"].join("\n"),
    );
    expect(info.profiles).toEqual({
      p1: { title: "Vendor: Model 2", packages: ["a"], supportedDevices: [] },
    });
  });

  it("reads CRLF output and an empty Packages line", () => {
    const info = parseMakeInfo(
      'Current Revision: "r1-abc"\r\nDefault Packages: a b\r\np:\r\n    P\r\n    Packages:\r\n',
    );
    expect(info.revision).toBe("r1-abc");
    expect(info.defaultPackages).toEqual(["a", "b"]);
    expect(info.profiles).toEqual({ p: { title: "P", packages: [], supportedDevices: [] } });
  });

  it("does not read top-level lines as profiles or profile fields", () => {
    const info = parseMakeInfo(
      ["p:", "    P", "    Packages: a", "Default Packages: x y", "Available Profiles:"].join("\n"),
    );
    expect(Object.keys(info.profiles)).toEqual(["p"]);
    expect(info.profiles.p?.packages).toEqual(["a"]);
    expect(info.defaultPackages).toEqual(["x", "y"]);
  });

  it("leaves absent facts empty", () => {
    expect(parseMakeInfo("")).toEqual({
      target: null,
      revision: null,
      defaultPackages: [],
      profiles: {},
    });
    expect(parseMakeInfo("make: *** No rule to make target 'info'.  Stop.\n").revision).toBeNull();
  });

  it("keeps a profile called __proto__ as an ordinary entry", () => {
    const info = parseMakeInfo("__proto__:\n    Odd\n    Packages: a\n");
    expect(Object.hasOwn(info.profiles, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(info.profiles)).toBe(Object.prototype);
  });
});

describe("checkRevision", () => {
  const info = parseMakeInfo(fixture);

  it("accepts the requested revision and an empty version_code", () => {
    expect(checkRevision(info, "r12647-cb44ab4f5d")).toBeNull();
    expect(checkRevision(info, "")).toBeNull();
  });

  it("names both revisions on a mismatch", () => {
    expect(checkRevision(info, "r12648-0000000000")).toBe(
      "Error: Received incorrect version r12647-cb44ab4f5d (requested r12648-0000000000)",
    );
  });

  it("refuses a requested revision when the ImageBuilder printed none", () => {
    expect(checkRevision(parseMakeInfo(""), "r1-a")).toBe(
      "Error: Received incorrect version unknown (requested r1-a)",
    );
    expect(checkRevision(parseMakeInfo(""), "")).toBeNull();
  });
});
