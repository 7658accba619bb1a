import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { buildAt, builtProfile, composeBuildResult, IMAGE_FIELDS } from "./build-result.ts";

const PROFILES = JSON.parse(
  readFileSync(
    new URL("./fixtures/profiles-23.05.5-8dev_carambola2.json", import.meta.url),
    "utf8",
  ),
);
const HASH = "e".repeat(64);

describe("buildAt", () => {
  it("prints source_date_epoch as the Python server does, in UTC", () => {
    expect(buildAt(1612139317)).toBe("2021-02-01T00:28:37.000000Z");
    expect(buildAt(1727094886)).toBe("2024-09-23T12:34:46.000000Z");
    expect(buildAt("1612139317")).toBe("2021-02-01T00:28:37.000000Z");
    expect(buildAt(undefined)).toBe("1970-01-01T00:00:00.000000Z");
    expect(buildAt("nonsense")).toBe("1970-01-01T00:00:00.000000Z");
  });
});

describe("builtProfile", () => {
  it("finds the built profile's entry only", () => {
    expect(builtProfile(PROFILES, "8dev_carambola2")?.image_prefix).toBe(
      "openwrt-23.05.5-ath79-generic-8dev_carambola2",
    );
    expect(builtProfile(PROFILES, "generic")).toBeUndefined();
    expect(builtProfile(PROFILES, "__proto__")).toBeUndefined();
    expect(builtProfile({}, "x")).toBeUndefined();
    expect(builtProfile(null, "x")).toBeUndefined();
    expect(builtProfile({ profiles: { x: "text" } }, "x")).toBeUndefined();
  });
});

describe("composeBuildResult", () => {
  const manifest = { "base-files": "1562-r24106-10cc5fcd00", busybox: "1.36.1-r2" };
  const buildCmd = ["make", "image", "PROFILE=8dev_carambola2", "PACKAGES=-ppp luci"];

  it("merges the top level, the profile and the server's fields", () => {
    const result = composeBuildResult({
      profilesJson: PROFILES,
      profile: "8dev_carambola2",
      requestHash: HASH,
      manifest,
      buildCmd,
      buildCmdPackages: ["-ppp", "luci"],
    });
    const { default_packages, ...rest } = result;
    expect(default_packages).toEqual(PROFILES.default_packages);
    expect(rest).toEqual({
      arch_packages: "mips_24kc",
      metadata_version: 1,
      source_date_epoch: 1727094886,
      target: "ath79/generic",
      version_code: "r24106-10cc5fcd00",
      version_number: "23.05.5",
      manifest,
      device_packages: ["kmod-usb-chipidea2"],
      image_prefix: "openwrt-23.05.5-ath79-generic-8dev_carambola2",
      images: [
        {
          filesystem: "squashfs",
          name: "openwrt-23.05.5-ath79-generic-8dev_carambola2-squashfs-sysupgrade.bin",
          sha256: "08c9eb2d6998fd6faf9ee0b1e9415d2aca20d00c2236e99c51bb0a9dff2056fc",
          sha256_unsigned: "12d6b21303a784468aecf611d19b46abc69557510c329531080351f1fd777c73",
          type: "sysupgrade",
        },
        {
          filesystem: "initramfs",
          name: "openwrt-23.05.5-ath79-generic-8dev_carambola2-initramfs-kernel.bin",
          sha256: "737643f972ed8eed3101c00fed490f14659af7c4ff910a63fe1e614e1b359eb5",
          sha256_unsigned: "737643f972ed8eed3101c00fed490f14659af7c4ff910a63fe1e614e1b359eb5",
          type: "kernel",
        },
      ],
      supported_devices: ["8dev,carambola2", "carambola2"],
      titles: [{ model: "Carambola2", vendor: "8devices" }],
      id: "8dev_carambola2",
      bin_dir: HASH,
      build_cmd: buildCmd,
      build_cmd_packages: ["-ppp", "luci"],
      build_at: "2024-09-23T12:34:46.000000Z",
    });
    expect(Object.hasOwn(result, "profiles")).toBe(false);
  });

  it("keeps only the image fields clients read", () => {
    expect(IMAGE_FIELDS).toEqual(["name", "type", "filesystem", "sha256", "sha256_unsigned"]);
    const result = composeBuildResult({
      profilesJson: {
        source_date_epoch: 0,
        profiles: {
          p: {
            images: [
              { name: "a.bin", type: "sysupgrade", sha256: "1", size: 5, extra: true },
              "junk",
            ],
          },
        },
      },
      profile: "p",
      requestHash: HASH,
      manifest: {},
      buildCmd: [],
      buildCmdPackages: [],
    });
    expect(result.images).toEqual([{ name: "a.bin", type: "sysupgrade", sha256: "1" }, {}]);
  });

  it("lets the profile entry win over the top level, and the server over both", () => {
    const result = composeBuildResult({
      profilesJson: {
        target: "top",
        id: "top",
        profiles: { p: { target: "profile", bin_dir: "x" } },
      },
      profile: "p",
      requestHash: HASH,
      manifest: {},
      buildCmd: [],
      buildCmdPackages: [],
    });
    expect([result.target, result.id, result.bin_dir, result.images]).toEqual([
      "profile",
      "p",
      HASH,
      [],
    ]);
  });

  it("refuses a profile that is not in profiles.json", () => {
    expect(() =>
      composeBuildResult({
        profilesJson: PROFILES,
        profile: "other",
        requestHash: HASH,
        manifest: {},
        buildCmd: [],
        buildCmdPackages: [],
      }),
    ).toThrow(/other is not in profiles.json/);
  });
});
