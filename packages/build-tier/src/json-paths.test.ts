import { branchesFromTable, DEFAULT_BRANCHES } from "@asu/openwrt-releases";
import { describe, expect, it } from "vitest";
import { parseJsonFilePath } from "./json-paths.ts";

const parse = (path: string, branches = DEFAULT_BRANCHES) =>
  parseJsonFilePath(path.split("/"), branches);

const branch = (name: string) => DEFAULT_BRANCHES.find((entry) => entry.name === name);

describe("parseJsonFilePath", () => {
  it("reads a release target index", () => {
    expect(parse("releases/24.10.0/targets/ath79/generic/index.json")).toEqual({
      kind: "target-index",
      location: { path: "releases/24.10.0", version: "24.10.0", branch: branch("24.10") },
      target: "ath79/generic",
    });
  });

  it("reads the snapshot path as version SNAPSHOT", () => {
    expect(parse("snapshots/targets/x86/64/index.json")).toEqual({
      kind: "target-index",
      location: { path: "snapshots", version: "SNAPSHOT", branch: branch("SNAPSHOT") },
      target: "x86/64",
    });
  });

  it.each([
    ["releases/23.05-SNAPSHOT", "23.05-SNAPSHOT", "23.05"],
    ["releases/24.10.0-rc6", "24.10.0-rc6", "24.10"],
    ["releases/21.02.7", "21.02.7", "21.02"],
    ["releases/25.12.0-rc1", "25.12.0-rc1", "25.12"],
  ])("finds the branch of %s", (path, version, name) => {
    const request = parse(`${path}/targets/ath79/generic/index.json`);
    expect(request?.location).toEqual({ path, version, branch: branch(name) });
  });

  it("reads a profile file, keeping dots inside the profile id", () => {
    expect(parse("releases/24.10.0/targets/ath79/generic/tplink_archer-c7-v5.json")).toEqual({
      kind: "profile",
      location: { path: "releases/24.10.0", version: "24.10.0", branch: branch("24.10") },
      target: "ath79/generic",
      profile: "tplink_archer-c7-v5",
    });
    expect(parse("snapshots/targets/x86/64/generic.v2.json")).toMatchObject({
      kind: "profile",
      profile: "generic.v2",
    });
  });

  it("reads an architecture's feed index", () => {
    expect(parse("releases/24.10.0/packages/mips_24kc-index.json")).toEqual({
      kind: "feed-index",
      location: { path: "releases/24.10.0", version: "24.10.0", branch: branch("24.10") },
      arch: "mips_24kc",
    });
    expect(parse("snapshots/packages/aarch64_cortex-a53-index.json")).toMatchObject({
      kind: "feed-index",
      arch: "aarch64_cortex-a53",
    });
  });

  it.each([
    // versions of no configured branch
    "releases/1.2.3/targets/testtarget/testsubtarget/index.json",
    "releases/foo/targets/ath79/generic/index.json",
    "releases/SNAPSHOT/targets/ath79/generic/index.json",
    "snapshot/targets/ath79/generic/index.json",
    "other/24.10.0/targets/ath79/generic/index.json",
    // wrong shapes below the version
    "releases/24.10.0/targets/ath79/index.json",
    "releases/24.10.0/targets/ath79/generic/extra/index.json",
    "releases/24.10.0/targets/ath79/generic/.json",
    "releases/24.10.0/targets/ath79/generic/profile.txt",
    "releases/24.10.0/packages/-index.json",
    "releases/24.10.0/packages/mips_24kc.json",
    "releases/24.10.0/packages/mips_24kc/base-index.json",
    "releases/24.10.0/index.json",
    "releases/24.10.0",
    "releases",
    "",
    // segments that could leave the version's tree
    "releases/24.10.0/targets/../generic/index.json",
    "releases/24.10.0/targets/./generic/index.json",
    "releases/24.10.0/targets//generic/index.json",
    "releases/../targets/ath79/generic/index.json",
  ])("names nothing: %j", (path) => {
    expect(parse(path)).toBeUndefined();
  });

  it("refuses decoded segments holding a slash, backslash or NUL", () => {
    for (const odd of ["a/b", "a\\b", "a\0b"]) {
      expect(
        parseJsonFilePath(
          ["releases", "24.10.0", "targets", odd, "generic", "index.json"],
          DEFAULT_BRANCHES,
        ),
      ).toBeUndefined();
    }
  });

  it("follows a branch table's own path templates", () => {
    const branches = branchesFromTable([
      { name: "SNAPSHOT", path: "main" },
      { name: "24.10", path: "openwrt/v{version}/dist" },
    ]);
    expect(parseJsonFilePath("main/targets/x86/64/index.json".split("/"), branches)).toMatchObject({
      location: { path: "main", version: "SNAPSHOT" },
    });
    expect(
      parseJsonFilePath("openwrt/v24.10.1/dist/packages/x86_64-index.json".split("/"), branches),
    ).toMatchObject({
      kind: "feed-index",
      location: { path: "openwrt/v24.10.1/dist", version: "24.10.1" },
      arch: "x86_64",
    });
    expect(
      parseJsonFilePath("openwrt/24.10.1/dist/packages/x86_64-index.json".split("/"), branches),
    ).toBeUndefined();
    expect(parseJsonFilePath("snapshots/targets/x86/64/index.json".split("/"), branches)).toBe(
      undefined,
    );
  });
});
