import { describe, expect, it } from "vitest";
import { CONTRACT } from "../../../test/support/contract-tables.ts";
import { PACKAGE_CHANGES, packageChangesUpTo } from "./package-changes.ts";

describe("PACKAGE_CHANGES", () => {
  it("is the contract's table, in order, with exact fields", () => {
    expect(PACKAGE_CHANGES).toEqual(CONTRACT.packageChanges);
  });

  it("serialises removals without a target key and renames without a mandatory key", () => {
    expect(JSON.stringify(PACKAGE_CHANGES[1])).toBe(
      '{"source":"kmod-nft-nat6","revision":20282,"mandatory":true}',
    );
    expect(JSON.stringify(PACKAGE_CHANGES[0])).toBe(
      '{"source":"firewall","target":"firewall4","revision":18611}',
    );
  });

  it("is ordered by revision", () => {
    const revisions = PACKAGE_CHANGES.map((change) => change.revision);
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
  });
});

describe("packageChangesUpTo", () => {
  it("includes a change made exactly at the revision", () => {
    expect(packageChangesUpTo(18611).map((c) => c.source)).toEqual(["firewall"]);
    expect(packageChangesUpTo(18610)).toEqual([]);
  });

  it("cuts each default branch at its branch-off revision", () => {
    expect(packageChangesUpTo(15812)).toEqual([]);
    expect(packageChangesUpTo(19160).map((c) => c.source)).toEqual(["firewall"]);
    expect(packageChangesUpTo(23069).map((c) => c.source)).toEqual([
      "firewall",
      "kmod-nft-nat6",
      "libustream-wolfssl",
      "px5g-wolfssl",
      "wpad-basic-wolfssl",
    ]);
    expect(packageChangesUpTo(27990).map((c) => c.source)).toEqual([
      "firewall",
      "kmod-nft-nat6",
      "libustream-wolfssl",
      "px5g-wolfssl",
      "wpad-basic-wolfssl",
      "luci-app-diag-core",
      "auc",
      "luci-app-opkg",
    ]);
    expect(packageChangesUpTo(32295)).toEqual(PACKAGE_CHANGES);
  });

  it("returns every change when there is no revision", () => {
    expect(packageChangesUpTo(undefined)).toEqual(PACKAGE_CHANGES);
  });

  it("uses a given table instead of the default one", () => {
    const table = [
      { source: "a", target: "b", revision: 5 },
      { source: "c", revision: 10 },
    ];
    expect(packageChangesUpTo(7, table)).toEqual([{ source: "a", target: "b", revision: 5 }]);
  });

  it("returns copies, so editing a branch's list never edits the table", () => {
    const copy = packageChangesUpTo(undefined);
    const first = copy[0];
    if (!first) throw new Error("empty table");
    first.source = "changed";
    expect(PACKAGE_CHANGES[0]?.source).toBe("firewall");
  });
});
