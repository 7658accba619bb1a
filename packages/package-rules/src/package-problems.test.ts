import { opkgIndexNames } from "@asu/imagebuilder-formats";
import { describe, expect, it } from "vitest";
import type { IndexSearch } from "./package-availability.ts";
import { packageProblems } from "./package-problems.ts";

const index = (url: string, ...names: string[]) => ({
  url,
  names: opkgIndexNames(
    names
      .map((entry) => {
        const [name, version = "1"] = entry.split("=");
        return `Package: ${name}\nVersion: ${version}\nArchitecture: all\n`;
      })
      .join("\n"),
  ),
});

const now: IndexSearch = {
  indexes: [
    index("24.10/luci/Packages", "luci", "owut", "luci-app-package-manager", "htop=3.3.0-r1"),
  ],
  unreadable: [],
};
const before: IndexSearch = {
  indexes: [index("23.05/luci/Packages", "luci", "auc", "luci-app-opkg", "wireguard")],
  unreadable: [],
};

describe("packageProblems", () => {
  it("is empty when all is well", () => {
    expect(
      packageProblems({ packages: ["luci", "-ppp"], version: "24.10.0", search: now }),
    ).toEqual([]);
  });

  it("reports an unknown name with suggestions: lcui → luci", () => {
    expect(packageProblems({ packages: ["lcui"], version: "24.10.0", search: now })).toEqual([
      {
        package: "lcui",
        reason: "not_found",
        detail: "No package index of 24.10.0 for this target has lcui",
        suggestions: ["luci"],
      },
    ]);
  });

  it("tells a package the old version had from one that never existed", () => {
    const problems = packageProblems({
      packages: ["auc", "wireguard", "nothing"],
      version: "24.10.0",
      search: now,
      from: { version: "23.05.5", search: before },
    });
    expect(problems.map((p) => [p.package, p.reason, p.suggestions])).toEqual([
      ["auc", "removed_in_version", ["owut"]],
      ["wireguard", "removed_in_version", []],
      ["nothing", "not_found", []],
    ]);
    expect(problems[0]?.detail).toBe("auc is in 23.05.5 but not in 24.10.0 for this target");
  });

  it("reports a pin the index cannot satisfy", () => {
    expect(
      packageProblems({
        packages: ["htop"],
        pins: { htop: "3.2.0-r1" },
        version: "24.10.0",
        search: now,
      }),
    ).toEqual([
      {
        package: "htop",
        reason: "version_unavailable",
        detail: "htop 3.2.0-r1 is not available; the index has 3.3.0-r1",
        suggestions: [],
      },
    ]);
  });

  it("reports what could not be checked as unknown, never as missing", () => {
    const partial = {
      ...now,
      unreadable: [{ url: "https://feed.example/x/", reason: "timed out" }],
    };
    expect(packageProblems({ packages: ["lcui"], version: "24.10.0", search: partial })).toEqual([
      {
        package: "lcui",
        reason: "unknown",
        detail: "Could not be checked: https://feed.example/x/ could not be read (timed out)",
        suggestions: [],
      },
    ]);
  });
});
