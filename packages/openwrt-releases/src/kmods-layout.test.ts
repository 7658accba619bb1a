import { describe, expect, it } from "vitest";
import { hasSplitKmods, kmodsDirectory } from "./kmods-layout.ts";

const release = { snapshot: false };
const snapshot = { snapshot: true };

describe("hasSplitKmods", () => {
  // The Python server's own cases (tests/test_util.py, test_check_kmod_split).
  it.each([
    ["22.07.3", false],
    ["23.05.0-rc3", false],
    ["23.05.2", false],
    ["23.05.5", false],
    ["23.05.6", true],
    ["23.05-SNAPSHOT", true],
    ["24.10.0-rc1", true],
    ["24.10.2", true],
    ["24.10-SNAPSHOT", true],
    ["25.12.2", true],
    ["26.10-SNAPSHOT", true],
  ])("%s → %s", (version, expected) => {
    expect(hasSplitKmods(version, release)).toBe(expected);
  });

  it("holds for every version of a snapshot branch", () => {
    expect(hasSplitKmods("SNAPSHOT", snapshot)).toBe(true);
    expect(hasSplitKmods("SNAPSHOT", release)).toBe(false);
  });

  it("compares 23.05 point releases as numbers", () => {
    expect(hasSplitKmods("23.05.10", release)).toBe(true);
    expect(hasSplitKmods("23.05.6-rc1", release)).toBe(true);
  });

  it.each(["23.05", "21.02.7", "1.2.3", "19.07-SNAPSHOT", "abc", ""])(
    "%j has no split",
    (version) => {
      expect(hasSplitKmods(version, release)).toBe(false);
    },
  );
});

describe("kmodsDirectory", () => {
  it("joins version, release and vermagic", () => {
    expect(
      kmodsDirectory({
        version: "6.6.73",
        release: "1",
        vermagic: "2974fbe1fa59be88f13eb8abeac8c10b",
      }),
    ).toBe("6.6.73-1-2974fbe1fa59be88f13eb8abeac8c10b");
  });

  it("names no folder without a complete linux_kernel", () => {
    expect(kmodsDirectory(undefined)).toBeUndefined();
    expect(kmodsDirectory({ version: "6.6.73", release: "1" })).toBeUndefined();
    expect(kmodsDirectory({ version: "6.6.73", release: "", vermagic: "ab" })).toBeUndefined();
    expect(
      kmodsDirectory({ version: 6 as unknown as string, release: "1", vermagic: "ab" }),
    ).toBeUndefined();
  });
});
