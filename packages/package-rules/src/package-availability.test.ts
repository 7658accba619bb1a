import { apkIndexNames, type IndexNames, opkgIndexNames } from "@asu/imagebuilder-formats";
import { describe, expect, it } from "vitest";
import {
  availabilityFailure,
  checkAvailability,
  type IndexSearch,
  packageAvailability,
} from "./package-availability.ts";

// Stanzas as OpenWrt 24.10's indexes publish them: ABI-versioned libraries
// (whose Provides carries the plain name), variants providing the base name.
const TARGET_24_10 = `Package: base-files
Version: 1630~6df0e3d02a
Depends: libc, netifd, jsonfilter, usign, openwrt-keyring, fstools, fwtool
Section: base
Architecture: mips_24kc
Filename: base-files_1630~6df0e3d02a_mips_24kc.ipk
Description:  This package contains a base filesystem and system scripts for OpenWrt.

Package: libc
Version: 1.2.5-r4
Depends: libgcc1
Provides: libc
Section: libs
Architecture: mips_24kc
Description:  C Standard library
`;

const BASE_FEED_24_10 = `Package: libubox20240329
Version: 2024.03.29~eb9bcb64-r1
Depends: libc
Provides: libubox
ABIVersion: 20240329
Section: libs
Architecture: mips_24kc
Filename: libubox20240329_2024.03.29~eb9bcb64-r1_mips_24kc.ipk
Description:  Basic utility library

Package: libmbedtls21
Version: 3.6.2-r1
Depends: libc
ABIVersion: 21
Architecture: mips_24kc
Description:  The aim of the mbedtls project
 is to provide a quality, open-source cryptographic library.

Package: dnsmasq
Version: 2.90-r4
Depends: libc, libubus20231128
Architecture: mips_24kc

Package: dnsmasq-full
Version: 2.90-r4
Depends: libc, libubus20231128, libnettle8, kmod-ipt-ipset
Provides: dnsmasq (=2.90-r4)
Alternatives: 200:/usr/sbin/dnsmasq:/usr/sbin/dnsmasq-full
Architecture: mips_24kc

Package: wpad-basic-mbedtls
Version: 2024.09.15~5ace39b0-r2
Depends: libc, hostapd-common, libubus20231128, libucode20230711, libmbedtls21
Provides: hostapd, wpa-supplicant, wpad-basic, wpad-mbedtls
Architecture: mips_24kc
`;

const LUCI_FEED_24_10 = `Package: luci
Version: 24.339.46197~5cf1e9d
Depends: libc, luci-light, luci-app-package-manager
Architecture: all

Package: luci-app-package-manager
Version: 24.339.46197~5cf1e9d
Architecture: all

Package: luci-i18n-package-manager-de
Version: 24.339.46197~5cf1e9d
Architecture: all
`;

const KMODS_24_10 = `Package: kmod-ath9k
Version: 6.6.73.6.12.6-r1
Depends: kernel (=6.6.73~2974fbe1fa59be88f13eb8abeac8c10b-r1), kmod-ath9k-common
Section: kernel
Architecture: mips_24kc

Package: kmod-usb2
Version: 6.6.73-r1
Depends: kernel (=6.6.73~2974fbe1fa59be88f13eb8abeac8c10b-r1), kmod-usb-core, kmod-usb-ehci
Architecture: mips_24kc
`;

// 23.05.5 before the split: kernel modules sit in the target's own Packages.
const TARGET_23_05_5 = `Package: kernel
Version: 5.15.167~f7d0c7fbe3bd7ee6b4a3a2ef7a9bfa5b-1
Architecture: mips_24kc

Package: kmod-ath9k
Version: 5.15.167+6.1.110-1-1
Depends: kernel (=5.15.167~f7d0c7fbe3bd7ee6b4a3a2ef7a9bfa5b-1)
Architecture: mips_24kc
`;

const APK_TARGET = {
  version: 2,
  architecture: "x86_64",
  packages: { "base-files": "1675~22d1e6cd26", libubox: "2025.01.20~3a4f4b5c-r1" },
};
const APK_KMODS = {
  version: 2,
  architecture: "x86_64",
  packages: { kernel: "6.6.74~75d549fb-r1", "kmod-igc": "6.6.74-r1" },
};
const APK_PACKAGES = {
  version: 2,
  architecture: "x86_64",
  packages: { htop: "3.3.0-r1", "dnsmasq-full": "2.90-r4", "wpad-basic-mbedtls": "2025.01-r1" },
};

const opkg = (url: string, text: string) => ({ url, names: opkgIndexNames(text) });
const apk = (url: string, json: unknown) => ({ url, names: apkIndexNames(json) as IndexNames });

const split24: IndexSearch = {
  indexes: [
    opkg("t/packages/Packages", TARGET_24_10),
    opkg("t/kmods/6.6.73-1-2974/Packages", KMODS_24_10),
    opkg("p/base/Packages", BASE_FEED_24_10),
    opkg("p/luci/Packages", LUCI_FEED_24_10),
  ],
  unreadable: [],
};
const notSplit23: IndexSearch = {
  indexes: [opkg("t/packages/Packages", TARGET_23_05_5), opkg("p/base/Packages", BASE_FEED_24_10)],
  unreadable: [],
};
const apkSnapshot: IndexSearch = {
  indexes: [
    apk("t/packages/index.json", APK_TARGET),
    apk("t/kmods/6.6.74/index.json", APK_KMODS),
    apk("p/packages/index.json", APK_PACKAGES),
  ],
  unreadable: [],
};

describe("index names", () => {
  it("accepts an ABI-versioned library under both names, and Provides aliases", () => {
    const names = opkgIndexNames(BASE_FEED_24_10);
    expect(names.versions.get("libubox")).toBe("2024.03.29~eb9bcb64-r1");
    expect(names.versions.has("libubox20240329")).toBe(false);
    expect(names.aliases.get("libubox20240329")).toBe("libubox");
    expect(names.aliases.get("libmbedtls21")).toBe("libmbedtls");
    expect(names.aliases.get("hostapd")).toBe("wpad-basic-mbedtls");
    // A provided name that is also a package of its own stays that package.
    expect(names.versions.get("dnsmasq")).toBe("2.90-r4");
    expect(names.listsProvides).toBe(true);
  });

  it("reads an apk v2 index.json, which lists no provides", () => {
    const names = apkIndexNames(APK_PACKAGES) as IndexNames;
    expect([...names.versions.keys()]).toEqual(["htop", "dnsmasq-full", "wpad-basic-mbedtls"]);
    expect(names.listsProvides).toBe(false);
    expect(apkIndexNames({ version: 1, packages: {} })).toBeNull();
  });
});

describe("packageAvailability over opkg indexes (24.10, kmods split)", () => {
  it.each([
    ["base-files", "base-files", "t/packages/Packages"],
    ["kmod-ath9k", "kmod-ath9k", "t/kmods/6.6.73-1-2974/Packages"],
    ["libubox", "libubox", "p/base/Packages"],
    ["libubox20240329", "libubox", "p/base/Packages"],
    ["libmbedtls21", "libmbedtls", "p/base/Packages"],
    ["libmbedtls", "libmbedtls", "p/base/Packages"],
    ["wpa-supplicant", "wpad-basic-mbedtls", "p/base/Packages"],
    ["luci", "luci", "p/luci/Packages"],
  ])("finds %s (as %s in %s)", (name, found, url) => {
    expect(packageAvailability(name, split24)).toMatchObject({
      status: "available",
      package: found,
      url,
    });
  });

  it("always accepts a removal", () => {
    expect(packageAvailability("-ppp", split24).status).toBe("available");
    expect(packageAvailability("-no-such-package", split24).status).toBe("available");
  });

  it("calls a name no index has missing", () => {
    expect(packageAvailability("lcui", split24)).toEqual({ status: "missing" });
    expect(packageAvailability("kmod-no-such", split24)).toEqual({ status: "missing" });
  });

  it("treats the apk virtual forms as unknown", () => {
    for (const name of ["so:libc.so", "cmd:ip", "pc:libubox"]) {
      expect(packageAvailability(name, split24).status).toBe("unknown");
    }
  });

  it("makes absent names unknown when an index could not be read", () => {
    const partial = { ...split24, unreadable: [{ url: "p/telephony/", reason: "timed out" }] };
    expect(packageAvailability("asterisk", partial)).toEqual({
      status: "unknown",
      reason: "p/telephony/ could not be read (timed out)",
    });
    expect(packageAvailability("luci", partial).status).toBe("available");
  });

  it("knows nothing without any index", () => {
    expect(packageAvailability("luci", { indexes: [], unreadable: [] }).status).toBe("unknown");
  });
});

describe("packageAvailability over 23.05.5 (kmods in the target index)", () => {
  it("finds kernel modules in the target's own index", () => {
    expect(packageAvailability("kmod-ath9k", notSplit23)).toMatchObject({
      status: "available",
      version: "5.15.167+6.1.110-1-1",
      url: "t/packages/Packages",
    });
    expect(packageAvailability("kmod-usb2", notSplit23).status).toBe("missing");
  });
});

describe("packageAvailability over apk v2 indexes (snapshot)", () => {
  it("finds names of the target, the kmods and the feeds", () => {
    for (const name of ["base-files", "kmod-igc", "htop", "libubox"]) {
      expect(packageAvailability(name, apkSnapshot).status).toBe("available");
    }
  });

  it("leaves names another package may provide unknown", () => {
    // dnsmasq-full provides dnsmasq; wpad-basic-mbedtls provides wpad-basic.
    expect(packageAvailability("dnsmasq", apkSnapshot).status).toBe("unknown");
    expect(packageAvailability("wpad-basic", apkSnapshot).status).toBe("unknown");
    // The ABI-suffixed name of a listed library.
    expect(packageAvailability("libubox20250120", apkSnapshot).status).toBe("unknown");
  });

  it("still calls an unrelated name missing", () => {
    expect(packageAvailability("no-such-package", apkSnapshot)).toEqual({ status: "missing" });
    expect(packageAvailability("hotp", apkSnapshot)).toEqual({ status: "missing" });
  });
});

describe("checkAvailability and its failure text", () => {
  it("lists missing names once, sorted by code point as the worker does", () => {
    const report = checkAvailability(["zz-top", "luci", "Aardvark", "zz-top", "-ppp"], split24);
    expect(report.missing).toEqual(["Aardvark", "zz-top"]);
    expect(availabilityFailure(report)).toBe(
      "Error: Impossible package selection: missing (Aardvark, zz-top)",
    );
  });

  it("reports pins the index contradicts, in the contract's words", () => {
    const report = checkAvailability(["luci", "kmod-usb2"], split24, {
      luci: "24.339.46197~5cf1e9d",
      "kmod-usb2": "6.6.70-r1",
    });
    expect(report.mismatches).toEqual([
      { package: "kmod-usb2", want: "6.6.70-r1", got: "6.6.73-r1" },
    ]);
    expect(availabilityFailure(report)).toBe(
      "Error: Impossible package selection: kmod-usb2 version not as requested: 6.6.70-r1 vs. 6.6.73-r1",
    );
  });

  it("names missing packages before contradicted pins", () => {
    const report = checkAvailability(["nope", "kmod-usb2"], split24, { "kmod-usb2": "1" });
    expect(availabilityFailure(report)).toBe("Error: Impossible package selection: missing (nope)");
  });

  it("never contradicts a pin while an index is unread", () => {
    const partial = { ...split24, unreadable: [{ url: "custom/Packages", reason: "HTTP 500" }] };
    const report = checkAvailability(["kmod-usb2", "extra"], partial, { "kmod-usb2": "1" });
    expect(report).toEqual({
      missing: [],
      unknown: [{ package: "extra", reason: "custom/Packages could not be read (HTTP 500)" }],
      mismatches: [],
    });
    expect(availabilityFailure(report)).toBeUndefined();
  });

  it("accepts a pin any index holds", () => {
    const custom = opkg("custom/Packages", "Package: kmod-usb2\nVersion: 1\nArchitecture: all\n");
    const search = { indexes: [...split24.indexes, custom], unreadable: [] };
    expect(checkAvailability(["kmod-usb2"], search, { "kmod-usb2": "1" }).mismatches).toEqual([]);
  });

  it("is clean when every package is there", () => {
    const report = checkAvailability(
      ["luci", "libubox20240329", "kmod-ath9k", "-ppp", "hostapd"],
      split24,
    );
    expect(report).toEqual({ missing: [], unknown: [], mismatches: [] });
  });
});
