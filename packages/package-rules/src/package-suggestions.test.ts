import { opkgIndexNames } from "@asu/imagebuilder-formats";
import { describe, expect, it } from "vitest";
import type { IndexSearch } from "./package-availability.ts";
import { editDistance, suggestPackages } from "./package-suggestions.ts";

const packages = (...names: string[]) =>
  names.map((name) => `Package: ${name}\nVersion: 1\nArchitecture: all\n`).join("\n");

const search: IndexSearch = {
  indexes: [
    {
      url: "feed/Packages",
      names: opkgIndexNames(
        packages(
          "luci",
          "luci-ssl",
          "luci-app-package-manager",
          "luci-i18n-package-manager-de",
          "luci-i18n-base-zh-hans",
          "luci-i18n-base-zh-hant",
          "owut",
          "firewall4",
          "htop",
          "kmod-ath10k-ct",
          "kmod-ath10k-ct-smallbuffers",
          "kmod-usb2",
          "kmod-usb3",
          "tcpdump",
          "tcpdump-mini",
        ),
      ),
    },
  ],
  unreadable: [],
};

describe("editDistance", () => {
  it.each([
    ["lcui", "luci", 1],
    ["luci", "luci", 0],
    ["htpo", "htop", 1],
    ["kitten", "sitting", 3],
    ["", "abc", 3],
  ])("%s → %s is %i", (a, b, distance) => {
    expect(editDistance(a, b)).toBe(distance);
  });

  it("gives up past the limit", () => {
    expect(editDistance("abcdef", "uvwxyz", 2)).toBe(3);
    expect(editDistance("a", "abcdef", 2)).toBe(3);
  });
});

describe("suggestPackages", () => {
  it("suggests luci for lcui", () => {
    expect(suggestPackages("lcui", search)[0]).toBe("luci");
  });

  it("puts the package-changes rename first", () => {
    expect(suggestPackages("auc", search)[0]).toBe("owut");
    expect(suggestPackages("firewall", search)).toEqual(["firewall4"]);
    expect(suggestPackages("luci-app-opkg", search)[0]).toBe("luci-app-package-manager");
  });

  it("offers only names the indexes have", () => {
    // libustream-wolfssl → libustream-mbedtls, which this index lacks.
    expect(suggestPackages("libustream-wolfssl", search)).toEqual([]);
  });

  it("offers close names, closest first", () => {
    expect(suggestPackages("tcpdumb", search)).toEqual(["tcpdump"]);
    expect(suggestPackages("kmod-usb4", search)).toEqual(["kmod-usb2", "kmod-usb3"]);
  });

  it("finds a kernel module's variant", () => {
    expect(suggestPackages("kmod-ath10k", search)).toEqual([
      "kmod-ath10k-ct",
      "kmod-ath10k-ct-smallbuffers",
    ]);
    expect(suggestPackages("kmod-ath10k-ct-big", search)).toContain("kmod-ath10k-ct");
  });

  it("finds a language pack's counterpart", () => {
    expect(suggestPackages("luci-i18n-opkg-de", search)).toEqual(["luci-i18n-package-manager-de"]);
    expect(suggestPackages("luci-i18n-base-zh-cn", search)).toEqual([
      "luci-i18n-base-zh-hans",
      "luci-i18n-base-zh-hant",
    ]);
  });

  it("stops at the limit and never suggests the name itself", () => {
    expect(suggestPackages("kmod-usb4", search, { limit: 1 })).toEqual(["kmod-usb2"]);
    expect(suggestPackages("htop", search)).toEqual([]);
  });
});
