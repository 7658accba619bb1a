import type { ProfilesJson } from "@asu/openwrt-releases";
import { describe, expect, it } from "vitest";
import { formatBuildAt, profileAnswer } from "./profile-answer.ts";

describe("formatBuildAt", () => {
  it.each<[unknown, string]>([
    [1721081658, "2024-07-15T22:14:18.000000Z"],
    ["1612136917", "2021-01-31T23:48:37.000000Z"],
    [" 1612136917 ", "2021-01-31T23:48:37.000000Z"],
    [0, "1970-01-01T00:00:00.000000Z"],
    [1721081658.9, "2024-07-15T22:14:18.000000Z"],
    [undefined, "1970-01-01T00:00:00.000000Z"],
    ["soon", "1970-01-01T00:00:00.000000Z"],
    ["1.5", "1970-01-01T00:00:00.000000Z"],
    [Number.NaN, "1970-01-01T00:00:00.000000Z"],
    [1e20, "1970-01-01T00:00:00.000000Z"],
  ])("%j → %s", (epoch, expected) => {
    expect(formatBuildAt(epoch)).toBe(expected);
  });
});

const metadata: ProfilesJson = {
  arch_packages: "mips_24kc",
  default_packages: ["base-files", "busybox"],
  source_date_epoch: 1721081658,
  target: "ath79/generic",
  version_code: "r28427-6df0e3d02a",
  version_number: "24.10.0",
  profiles: {
    "tplink_archer-c7-v5": {
      device_packages: ["kmod-ath10k-ct"],
      image_prefix: "openwrt-24.10.0-ath79-generic-tplink_archer-c7-v5",
      images: [{ name: "x-sysupgrade.bin", type: "sysupgrade", filesystem: "squashfs" }],
      supported_devices: ["tplink,archer-c7-v5"],
      titles: [{ model: "Archer C7", vendor: "TP-Link", variant: "v5" }],
    },
  },
};

describe("profileAnswer", () => {
  it("merges the top level, the profile, id and build_at", () => {
    expect(profileAnswer(metadata, "tplink_archer-c7-v5")).toEqual({
      arch_packages: "mips_24kc",
      default_packages: ["base-files", "busybox"],
      source_date_epoch: 1721081658,
      target: "ath79/generic",
      version_code: "r28427-6df0e3d02a",
      version_number: "24.10.0",
      device_packages: ["kmod-ath10k-ct"],
      image_prefix: "openwrt-24.10.0-ath79-generic-tplink_archer-c7-v5",
      images: [{ name: "x-sysupgrade.bin", type: "sysupgrade", filesystem: "squashfs" }],
      supported_devices: ["tplink,archer-c7-v5"],
      titles: [{ model: "Archer C7", vendor: "TP-Link", variant: "v5" }],
      id: "tplink_archer-c7-v5",
      build_at: "2024-07-15T22:14:18.000000Z",
    });
  });

  it("lets the profile's keys win over the top level, and id/build_at over both", () => {
    const answer = profileAnswer(
      { ...metadata, profiles: { p: { target: "from-profile", id: "x", build_at: "y" } } },
      "p",
    );
    expect(answer).toMatchObject({ target: "from-profile", id: "p" });
    expect(answer.build_at).toBe("2024-07-15T22:14:18.000000Z");
  });

  it("answers {} for an unknown profile, a board name or missing metadata", () => {
    expect(profileAnswer(metadata, "nope")).toEqual({});
    expect(profileAnswer(metadata, "tplink,archer-c7-v5")).toEqual({});
    expect(profileAnswer(metadata, "toString")).toEqual({});
    expect(profileAnswer(metadata, "__proto__")).toEqual({});
    expect(profileAnswer(undefined, "tplink_archer-c7-v5")).toEqual({});
  });

  it("leaves the shared metadata untouched", () => {
    const frozen = structuredClone(metadata);
    Object.freeze(frozen);
    Object.freeze(frozen.profiles);
    profileAnswer(frozen, "tplink_archer-c7-v5");
    expect(frozen).toEqual(metadata);
  });
});
