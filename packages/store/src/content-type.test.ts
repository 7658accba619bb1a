import { describe, expect, it } from "vitest";
import { contentTypeOf } from "./content-type.ts";

describe("contentTypeOf", () => {
  it.each([
    [
      "openwrt-24.10.0-ath79-generic-tplink_archer-c7-v5-squashfs-sysupgrade.bin",
      "application/octet-stream",
    ],
    ["openwrt-24.10.0-x86-64-generic-ext4-combined.img.gz", "application/octet-stream"],
    ["profiles.json", "application/json"],
    ["openwrt-24.10.0-ath79-generic-tplink_archer-c7-v5.manifest", "text/plain; charset=utf-8"],
    ["sha256sums", "text/plain; charset=utf-8"],
    ["version.buildinfo", "text/plain; charset=utf-8"],
    ["PROFILES.JSON", "application/json"],
    ["no-extension", "application/octet-stream"],
  ])("%s → %s", (name, type) => {
    expect(contentTypeOf(name)).toBe(type);
  });
});
