import { describe, expect, it } from "vitest";
import { containerTag, imagebuilderImage, releaseFallbackImages } from "./imagebuilder-image.ts";

describe("containerTag", () => {
  it.each([
    ["23.05.4", "v23.05.4"],
    ["24.10.0-rc6", "v24.10.0-rc6"],
    ["1.2.3", "v1.2.3"],
    ["19.07.10", "v19.07.10"],
    ["SNAPSHOT", "master"],
    ["23.05-SNAPSHOT", "openwrt-23.05"],
    ["24.10-SNAPSHOT", "openwrt-24.10"],
    ["test-branch-SNAPSHOT", "openwrt-test-branch"],
  ])("%s → %s", (version, tag) => {
    expect(containerTag(version)).toBe(tag);
  });

  it.each([
    "23.05",
    "23.05.4-beta1",
    "24.10.0-rc",
    "v23.05.4",
    "23.05.4 ",
    "snapshot",
    "-SNAPSHOT",
    "23.05-snapshot",
    "",
  ])("has no tag for %j", (version) => {
    expect(containerTag(version)).toBeNull();
  });
});

describe("imagebuilderImage", () => {
  const base = "ghcr.io/openwrt/imagebuilder";

  it("joins base, target with dashes and tag", () => {
    expect(imagebuilderImage(base, "ath79/generic", "23.05.4")).toBe(
      "ghcr.io/openwrt/imagebuilder:ath79-generic-v23.05.4",
    );
    expect(imagebuilderImage(base, "x86/64", "SNAPSHOT")).toBe(
      "ghcr.io/openwrt/imagebuilder:x86-64-master",
    );
    expect(imagebuilderImage(base, "mediatek/filogic", "24.10-SNAPSHOT")).toBe(
      "ghcr.io/openwrt/imagebuilder:mediatek-filogic-openwrt-24.10",
    );
    expect(imagebuilderImage(base, "lantiq/xrx200_legacy", "25.12.0-rc1")).toBe(
      "ghcr.io/openwrt/imagebuilder:lantiq-xrx200_legacy-v25.12.0-rc1",
    );
  });

  it("uses a custom base container", () => {
    expect(imagebuilderImage("localhost/ib", "testtarget/testsubtarget", "1.2.3")).toBe(
      "localhost/ib:testtarget-testsubtarget-v1.2.3",
    );
  });

  it("is null when the version has no tag", () => {
    expect(imagebuilderImage(base, "ath79/generic", "23.05")).toBeNull();
  });
});

describe("releaseFallbackImages", () => {
  it("names the branch's snapshot image, then master", () => {
    expect(
      releaseFallbackImages("ghcr.io/openwrt/imagebuilder", "ath79/generic", "24.10.2"),
    ).toEqual([
      "ghcr.io/openwrt/imagebuilder:ath79-generic-openwrt-24.10",
      "ghcr.io/openwrt/imagebuilder:ath79-generic-master",
    ]);
    expect(releaseFallbackImages("b", "x86/64", "25.12.0-rc1")).toEqual([
      "b:x86-64-openwrt-25.12",
      "b:x86-64-master",
    ]);
  });

  it("has none for snapshots", () => {
    expect(releaseFallbackImages("b", "x86/64", "SNAPSHOT")).toEqual([]);
    expect(releaseFallbackImages("b", "x86/64", "24.10-SNAPSHOT")).toEqual([]);
  });
});
