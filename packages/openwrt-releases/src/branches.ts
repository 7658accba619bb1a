import type { PackageChange } from "./package-changes.ts";
import { PACKAGE_CHANGES, packageChangesUpTo } from "./package-changes.ts";

/**
 * A configured OpenWrt branch. Keys are snake_case because the object is
 * served as-is in branches.json and overview.json (the server adds `versions`
 * and `targets`). `path` is a template, exactly as the Python server serves
 * it: owut substitutes `{version}` itself.
 */
export interface Branch {
  name: string;
  path: string;
  enabled: boolean;
  snapshot: boolean;
  /** Absent on snapshot branches, which have no branch-off point. */
  branch_off_rev?: number;
  package_changes: PackageChange[];
}

/** One row of a branch table (the default below or a BRANCHES_FILE). */
export interface BranchEntry {
  name: string;
  path?: string;
  enabled?: boolean;
  snapshot?: boolean;
  branch_off_rev?: number;
  /** Overrides the changes derived from the change table. */
  package_changes?: readonly PackageChange[];
}

export const SNAPSHOT = "SNAPSHOT";
export const VERSION_PLACEHOLDER = "{version}";
export const RELEASE_PATH = `releases/${VERSION_PLACEHOLDER}`;
export const SNAPSHOT_PATH = "snapshots";

const DEFAULT_BRANCH_TABLE: readonly BranchEntry[] = [
  { name: SNAPSHOT },
  { name: "25.12", branch_off_rev: 32295 },
  { name: "24.10", branch_off_rev: 27990 },
  { name: "23.05", branch_off_rev: 23069 },
  { name: "22.03", branch_off_rev: 19160 },
  { name: "21.02", branch_off_rev: 15812 },
];

/**
 * Fills a branch table's gaps the way the Python server does (release path
 * template, enabled, not a snapshot), except that a row named SNAPSHOT
 * defaults to the snapshot path and flag: a bare `SNAPSHOT: {}` in a branches
 * file should not point at `releases/SNAPSHOT`.
 */
export function branchesFromTable(
  entries: readonly BranchEntry[],
  changes: readonly PackageChange[] = PACKAGE_CHANGES,
): Branch[] {
  const seen = new Set<string>();
  return entries.map((entry) => {
    if (seen.has(entry.name)) throw new Error(`Duplicate branch in table: ${entry.name}`);
    seen.add(entry.name);
    const isMain = entry.name === SNAPSHOT;
    const branch: Branch = {
      name: entry.name,
      path: entry.path ?? (isMain ? SNAPSHOT_PATH : RELEASE_PATH),
      enabled: entry.enabled ?? true,
      snapshot: entry.snapshot ?? isMain,
      package_changes: entry.package_changes
        ? entry.package_changes.map((change) => ({ ...change }))
        : packageChangesUpTo(entry.branch_off_rev, changes),
    };
    if (entry.branch_off_rev !== undefined) branch.branch_off_rev = entry.branch_off_rev;
    return branch;
  });
}

export const DEFAULT_BRANCHES: readonly Branch[] = branchesFromTable(DEFAULT_BRANCH_TABLE);

/**
 * The branch name of a version (contract "Words"): the version itself when it
 * names a configured branch, else everything before the last `-` of an
 * `X-SNAPSHOT`, else everything before the last `.`.
 */
export function branchOf(version: string, branches: readonly Branch[]): string {
  if (branches.some((branch) => branch.name === version)) return version;
  const cut = version.endsWith(`-${SNAPSHOT}`)
    ? version.lastIndexOf("-")
    : version.lastIndexOf(".");
  return cut === -1 ? version : version.slice(0, cut);
}

export function findBranch(version: string, branches: readonly Branch[]): Branch | undefined {
  const name = branchOf(version, branches);
  return branches.find((branch) => branch.name === name);
}

/** Versions built by a setup.sh-style ImageBuilder; case-insensitive as in Python. */
export function isSnapshot(version: string): boolean {
  return version.toLowerCase().endsWith("snapshot");
}

/** The upstream path of a version (`releases/23.05-SNAPSHOT`), or null for an unknown branch. */
export function branchPath(version: string, branches: readonly Branch[]): string | null {
  const branch = findBranch(version, branches);
  return branch ? branch.path.replaceAll(VERSION_PLACEHOLDER, version) : null;
}

/**
 * The revision a version stands for when choosing package migrations: every
 * version of a branch (its releases, release candidates and `X-SNAPSHOT`)
 * counts as the branch-off revision, because changes made on main after the
 * branch-off never reach that branch. A branch without a branch-off revision
 * (SNAPSHOT) is the newest: Infinity. Null when the branch is not configured.
 */
export function versionRevision(version: string, branches: readonly Branch[]): number | null {
  const branch = findBranch(version, branches);
  if (!branch) return null;
  return branch.branch_off_rev ?? Number.POSITIVE_INFINITY;
}
