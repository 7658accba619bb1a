import { branchesFromTable, DEFAULT_BRANCHES } from "@asu/openwrt-releases";
import { describe, expect, it } from "vitest";
import { branchSummaries, overviewJson, type ServerSummary } from "./overview.ts";

const server: ServerSummary = {
  version: "0.1.0",
  contact: "admin@example.org",
  allow_defaults: false,
  repository_allow_list: [],
  max_custom_rootfs_size_mb: 1024,
  max_defaults_length: 20480,
};

describe("branchSummaries", () => {
  it("lists every branch in table order with its versions and targets", () => {
    const summaries = branchSummaries(
      DEFAULT_BRANCHES,
      new Map([
        ["SNAPSHOT", ["SNAPSHOT"]],
        ["24.10", ["24.10.0", "24.10-SNAPSHOT"]],
      ]),
      new Map([["24.10", { "ath79/generic": "mips_24kc" }]]),
    );
    expect(summaries.map((branch) => branch.name)).toEqual([
      "SNAPSHOT",
      "25.12",
      "24.10",
      "23.05",
      "22.03",
      "21.02",
    ]);
    expect(summaries[2]).toEqual({
      name: "24.10",
      path: "releases/{version}",
      enabled: true,
      snapshot: false,
      branch_off_rev: 27990,
      package_changes: DEFAULT_BRANCHES[2]?.package_changes,
      versions: ["24.10.0", "24.10-SNAPSHOT"],
      targets: { "ath79/generic": "mips_24kc" },
    });
    expect(summaries[0]).toMatchObject({ path: "snapshots", snapshot: true, targets: {} });
    expect(summaries[0]).not.toHaveProperty("branch_off_rev");
    expect(summaries[1]).toMatchObject({ name: "25.12", versions: [], targets: {} });
  });

  it("copies version lists, so the answer never shares the caller's arrays", () => {
    const versions = ["24.10.0"];
    const [summary] = branchSummaries(
      branchesFromTable([{ name: "24.10" }]),
      new Map([["24.10", versions]]),
      new Map(),
    );
    expect(summary?.versions).toEqual(versions);
    expect(summary?.versions).not.toBe(versions);
  });
});

describe("overviewJson", () => {
  it("writes the overview with branches keyed by name", () => {
    const branches = branchSummaries(
      branchesFromTable([{ name: "SNAPSHOT" }]),
      new Map([["SNAPSHOT", ["SNAPSHOT"]]]),
      new Map([["SNAPSHOT", { "x86/64": "x86_64" }]]),
    );
    const text = overviewJson({
      latest: ["24.10.0"],
      branches,
      upstreamUrl: "https://downloads.openwrt.org",
      server,
    });
    expect(JSON.parse(text)).toEqual({
      latest: ["24.10.0"],
      branches: { SNAPSHOT: branches[0] },
      upstream_url: "https://downloads.openwrt.org",
      server,
    });
  });

  it("keeps the table's branch order even for integer-like names", () => {
    const branches = branchSummaries(
      branchesFromTable([{ name: "SNAPSHOT" }, { name: "25" }, { name: "24.10" }, { name: "3" }]),
      new Map(),
      new Map(),
    );
    const text = overviewJson({ latest: [], branches, upstreamUrl: "u", server });
    const order = [...text.matchAll(/"name":"([^"]+)"/g)].map((match) => match[1]);
    expect(order).toEqual(["SNAPSHOT", "25", "24.10", "3"]);
    expect(text.startsWith('{"latest":[],"branches":{"SNAPSHOT":{"name":"SNAPSHOT"')).toBe(true);
  });
});
