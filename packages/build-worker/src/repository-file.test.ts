import { describe, expect, it } from "vitest";
import { REPOSITORY_FILES, updatedRepositoryFile } from "./repository-file.ts";

const OPKG = `src/gz openwrt_core https://downloads.openwrt.org/releases/24.10.0/targets/ath79/generic/packages
src/gz openwrt_base https://downloads.openwrt.org/releases/24.10.0/packages/mips_24kc/base

## This is the local package repository, do not remove!
src imagebuilder file:packages

option check_signature
`;
const APK = `https://downloads.openwrt.org/snapshots/targets/x86/64/packages/packages.adb
https://downloads.openwrt.org/snapshots/packages/x86_64/base/packages.adb
packages/packages.adb
`;

describe("updatedRepositoryFile", () => {
  it("names the files of both package managers", () => {
    expect(REPOSITORY_FILES).toEqual({ apk: "repositories", opkg: "repositories.conf" });
  });

  it("leaves the file alone without repositories or cache", () => {
    const request = { repositories: {}, repositories_mode: "replace" as const };
    expect(updatedRepositoryFile("opkg", OPKG, request, undefined)).toBeNull();
    expect(updatedRepositoryFile("apk", APK, request, "")).toBeNull();
  });

  it("replaces the feeds with the requested ones (opkg)", () => {
    const content = updatedRepositoryFile(
      "opkg",
      OPKG,
      {
        repositories: { custom: "https://feed.example.org/packages" },
        repositories_mode: "replace",
      },
      undefined,
    );
    expect(content).toBe(
      "src/gz custom https://feed.example.org/packages\nsrc imagebuilder file:packages\noption check_signature\n",
    );
  });

  it("appends to the feeds (opkg), keeping the ImageBuilder's lines", () => {
    const content = updatedRepositoryFile(
      "opkg",
      OPKG,
      {
        repositories: { custom: "https://feed.example.org/packages" },
        repositories_mode: "append",
      },
      undefined,
    );
    expect(content).toBe(
      [
        "src/gz openwrt_core https://downloads.openwrt.org/releases/24.10.0/targets/ath79/generic/packages",
        "src/gz openwrt_base https://downloads.openwrt.org/releases/24.10.0/packages/mips_24kc/base",
        "## This is the local package repository, do not remove!",
        "src imagebuilder file:packages",
        "option check_signature",
        "src/gz custom https://feed.example.org/packages",
        "",
      ].join("\n"),
    );
  });

  it("appends bare URLs for apk", () => {
    const content = updatedRepositoryFile(
      "apk",
      APK,
      {
        repositories: { custom: "https://feed.example.org/packages.adb" },
        repositories_mode: "append",
      },
      undefined,
    );
    expect(content).toBe(`${APK}https://feed.example.org/packages.adb\n`);
  });

  it("sends the ImageBuilder's own feeds through the cache even without repositories", () => {
    const content = updatedRepositoryFile(
      "apk",
      APK,
      { repositories: {}, repositories_mode: "replace" },
      "http://cache:3128",
    );
    expect(content).toBe(
      [
        "http://cache:3128/downloads.openwrt.org/snapshots/targets/x86/64/packages/packages.adb",
        "http://cache:3128/downloads.openwrt.org/snapshots/packages/x86_64/base/packages.adb",
        "packages/packages.adb",
        "",
      ].join("\n"),
    );
  });

  it("rewrites requested repositories for the cache too", () => {
    const content = updatedRepositoryFile(
      "opkg",
      "",
      { repositories: { custom: "https://feed.example.org/x" }, repositories_mode: "replace" },
      "http://cache/",
    );
    expect(content).toBe(
      "src/gz custom http://cache/feed.example.org/x\nsrc imagebuilder file:packages\noption check_signature\n",
    );
  });
});
