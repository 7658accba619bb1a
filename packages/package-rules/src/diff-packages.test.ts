import { describe, expect, it } from "vitest";
import { buildPackageList } from "./diff-packages.ts";

describe("buildPackageList without diff_packages", () => {
  it("is the requested list as it is", () => {
    expect(buildPackageList(["vim", "tmux", "-ppp"], ["base-files", "busybox"], false)).toEqual([
      "vim",
      "tmux",
      "-ppp",
    ]);
  });

  it("returns a copy", () => {
    const requested = ["vim"];
    const list = buildPackageList(requested, [], false);
    list.push("x");
    expect(requested).toEqual(["vim"]);
  });
});

describe("buildPackageList with diff_packages", () => {
  it("removes every default not requested, sorted, then the request in its order", () => {
    expect(
      buildPackageList(
        ["vim", "tmux", "base-files"],
        ["base-files", "busybox", "kmod-test", "dropbear"],
        true,
      ),
    ).toEqual(["-busybox", "-dropbear", "-kmod-test", "vim", "tmux", "base-files"]);
  });

  it("removes every default from an empty request", () => {
    expect(buildPackageList([], ["busybox", "base-files", "kmod-test"], true)).toEqual([
      "-base-files",
      "-busybox",
      "-kmod-test",
    ]);
  });

  it("keeps a profile's own removal a single-dash removal", () => {
    expect(buildPackageList(["luci"], ["swconfig", "-swconfig", "-uboot-envtools"], true)).toEqual([
      "-swconfig",
      "-uboot-envtools",
      "luci",
    ]);
  });

  it("leaves names with inner double dashes alone", () => {
    expect(buildPackageList([], ["a--b"], true)).toEqual(["-a--b"]);
  });

  it("lists each removal once when defaults repeat", () => {
    expect(buildPackageList(["x"], ["ppp", "ppp", "x"], true)).toEqual(["-ppp", "x"]);
  });

  it("is just the request when every default is requested", () => {
    expect(buildPackageList(["b", "a"], ["a", "b"], true)).toEqual(["b", "a"]);
  });

  it("keeps requested removals and duplicates as sent", () => {
    expect(buildPackageList(["-ppp", "luci", "luci"], ["ppp"], true)).toEqual([
      "-ppp",
      "-ppp",
      "luci",
      "luci",
    ]);
  });

  it("sorts by code point, as Python does", () => {
    // U+FB01 sorts before U+1F600 by code point, after it by UTF-16 unit.
    expect(buildPackageList([], ["pkg-\u{1F600}", "pkg-\uFB01", "pkg-Z", "pkg-a"], true)).toEqual([
      "-pkg-Z",
      "-pkg-a",
      "-pkg-\uFB01",
      "-pkg-\u{1F600}",
    ]);
    expect(buildPackageList([], ["ab", "a", "b"], true)).toEqual(["-a", "-ab", "-b"]);
  });

  it("accepts any iterable of defaults", () => {
    expect(buildPackageList(["a"], new Set(["a", "c", "b"]), true)).toEqual(["-b", "-c", "a"]);
  });
});
