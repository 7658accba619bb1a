import { DEFAULT_BRANCHES } from "@asu/openwrt-releases";
import { PREBUILD_CLIENT } from "@asu/queue";
import { describe, expect, it } from "vitest";
import { announcedReleases, prebuildBody, prebuildSources } from "./release-plan.ts";

const upstream = {
  stable_version: "24.10.0",
  oldstable_version: "23.05.5",
  upcoming_version: "25.12.0-rc1",
  versions_list: ["22.03.7", "23.05.5", "24.10.0"],
};

describe("release planning", () => {
  it("lists the announced releases of enabled branches, no snapshots", () => {
    const versions = announcedReleases(
      { ...upstream, versions_list: [...upstream.versions_list, "24.10-SNAPSHOT"] },
      DEFAULT_BRANCHES,
    );
    expect(versions).toContain("24.10.0");
    expect(versions).toContain("25.12.0-rc1");
    expect(versions.some((v) => v.includes("SNAPSHOT"))).toBe(false);
  });

  it("takes a new minor release's own branch only", () => {
    expect(prebuildSources("24.10.1", ["24.10.0", "23.05.5"], upstream, DEFAULT_BRANCHES)).toEqual([
      { branch: "24.10", migrated: false },
    ]);
  });

  it("adds the previous stable branch, migrated, for a branch never seen", () => {
    expect(
      prebuildSources("25.12.0-rc1", ["24.10.0", "23.05.5"], upstream, DEFAULT_BRANCHES),
    ).toEqual([
      { branch: "25.12", migrated: false },
      { branch: "24.10", migrated: true },
    ]);
  });

  it("sends what a router would: the new version, no version_code, the prebuild client", () => {
    const remembered = {
      version: "24.10.0",
      target: "ath79/generic",
      profile: "tplink_archer-c7-v5",
      packages: ["luci", "auc"],
      diff_packages: true,
      skip_package_resolution: false,
    };
    expect(prebuildBody(remembered, "24.10.1", DEFAULT_BRANCHES)).toEqual({
      version: "24.10.1",
      version_code: "",
      target: "ath79/generic",
      profile: "tplink_archer-c7-v5",
      packages: ["luci", "auc"],
      diff_packages: true,
      client: PREBUILD_CLIENT,
    });
  });

  it("migrates a prepared request's packages as prepare does from its version", () => {
    const remembered = {
      version: "23.05.5",
      target: "ath79/generic",
      profile: "tplink_archer-c7-v5",
      packages: ["luci", "auc"],
      skip_package_resolution: true,
    };
    const body = prebuildBody(remembered, "24.10.0", DEFAULT_BRANCHES);
    // auc became owut between 23.05 and 24.10 (package-changes).
    expect(body.packages).toContain("owut");
    expect(body.packages).not.toContain("auc");
  });
});
