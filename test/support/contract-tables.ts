import { readFileSync } from "node:fs";

export interface ContractPackageChange {
  source: string;
  target?: string;
  revision: number;
  mandatory?: boolean;
}

export interface ContractTables {
  branches: { name: string; path: string; snapshot: boolean; branch_off_rev?: number }[];
  packageChanges: ContractPackageChange[];
  filesystems: string[];
  /** What an empty request gains, in order; `profiles: null` is any profile of the target. */
  deviceAdditions: {
    version: string;
    target: string;
    profiles: string[] | null;
    packages: string[];
  }[];
  /** The rules that are not device additions, in application order; a pattern as its source. */
  packageRules: Record<string, unknown>[];
}

/**
 * The wire contract's tables, typed out once (test/fixtures/contract-tables.json)
 * and independently of the data modules in packages/openwrt-releases and
 * packages/package-rules, which tests compare with them.
 */
export const CONTRACT: ContractTables = JSON.parse(
  readFileSync(new URL("../fixtures/contract-tables.json", import.meta.url), "utf8"),
);

/** The contract's rule: a branch carries the changes up to its branch-off (a snapshot, all). */
export function contractChangesOf(branchName: string): ContractPackageChange[] {
  const branch = CONTRACT.branches.find((entry) => entry.name === branchName);
  if (!branch) throw new Error(`no branch ${branchName} in the contract`);
  const upTo = branch.branch_off_rev ?? Number.POSITIVE_INFINITY;
  return CONTRACT.packageChanges.filter((change) => change.revision <= upTo);
}
