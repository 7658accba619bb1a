import type { Branch } from "./branches.ts";
import { branchOf, SNAPSHOT } from "./branches.ts";

/** Upstream `{UPSTREAM_URL}/.versions.json`. Empty or missing fields are tolerated. */
export interface UpstreamVersions {
  stable_version?: string | null;
  oldstable_version?: string | null;
  upcoming_version?: string | null;
  versions_list?: readonly string[] | null;
}

/** Stage of a numbered version within its branch, oldest first. */
const BRANCH_SNAPSHOT = 0;
const RELEASE_CANDIDATE = 1;
const RELEASE = 2;

type ParsedVersion =
  | { kind: "main" }
  | { kind: "numbered"; numbers: number[]; stage: number; candidate: number }
  | { kind: "other" };

const BRANCH_SNAPSHOT_PATTERN = /^(\d+(?:\.\d+)*)-SNAPSHOT$/;
const RELEASE_PATTERN = /^(\d+(?:\.\d+)*)(?:-rc(\d+))?$/;

function parseVersion(version: string): ParsedVersion {
  if (version === SNAPSHOT) return { kind: "main" };
  const branch = BRANCH_SNAPSHOT_PATTERN.exec(version);
  if (branch?.[1]) {
    return {
      kind: "numbered",
      numbers: numbersOf(branch[1]),
      stage: BRANCH_SNAPSHOT,
      candidate: 0,
    };
  }
  const release = RELEASE_PATTERN.exec(version);
  if (release?.[1]) {
    const candidate = release[2];
    return {
      kind: "numbered",
      numbers: numbersOf(release[1]),
      stage: candidate === undefined ? RELEASE : RELEASE_CANDIDATE,
      candidate: candidate === undefined ? 0 : Number(candidate),
    };
  }
  return { kind: "other" };
}

function numbersOf(dotted: string): number[] {
  return dotted.split(".").map(Number);
}

const KIND_RANK = { other: 0, numbered: 1, main: 2 } as const;

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Orders versions oldest to newest: `X-SNAPSHOT`, `X.Y.Z-rcN`, `X.Y.Z`, later
 * point releases; `SNAPSHOT` newest, unknown shapes lowest by text. Numbers
 * compare numerically (24.10.10 > 24.10.9), unlike Python's string sort.
 */
export function compareVersions(a: string, b: string): number {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  const byKind = KIND_RANK[pa.kind] - KIND_RANK[pb.kind];
  if (byKind !== 0) return byKind;
  if (pa.kind === "numbered" && pb.kind === "numbered") {
    const common = Math.min(pa.numbers.length, pb.numbers.length);
    for (let i = 0; i < common; i++) {
      const byNumber = (pa.numbers[i] ?? 0) - (pb.numbers[i] ?? 0);
      if (byNumber !== 0) return Math.sign(byNumber);
    }
    // `24.10` (a branch head or point) precedes everything numbered under it.
    if (pa.numbers.length !== pb.numbers.length) {
      return Math.sign(pa.numbers.length - pb.numbers.length);
    }
    if (pa.stage !== pb.stage) return Math.sign(pa.stage - pb.stage);
    if (pa.candidate !== pb.candidate) return Math.sign(pa.candidate - pb.candidate);
  }
  return compareText(a, b);
}

export function sortNewestFirst(versions: Iterable<string>): string[] {
  return [...versions].sort((a, b) => compareVersions(b, a));
}

function enabledBranchNames(branches: readonly Branch[]): Set<string> {
  return new Set(branches.filter((branch) => branch.enabled).map((branch) => branch.name));
}

/** Whether a version belongs to an enabled branch. */
export function inEnabledBranch(version: string, branches: readonly Branch[]): boolean {
  return enabledBranchNames(branches).has(branchOf(version, branches));
}

/**
 * The versions the server builds, newest first: upstream's, `SNAPSHOT` and
 * `{branch}-SNAPSHOT`, each only when its branch is enabled ("starts with an
 * enabled branch name" would also keep `24.100.1` for `24.10`).
 */
export function serverVersions(upstream: UpstreamVersions, branches: readonly Branch[]): string[] {
  const candidates = [
    upstream.upcoming_version,
    ...(upstream.versions_list ?? []),
    ...branches.map((branch) => (branch.snapshot ? branch.name : `${branch.name}-${SNAPSHOT}`)),
  ];
  const kept = new Set<string>();
  for (const version of candidates) {
    if (version && inEnabledBranch(version, branches)) kept.add(version);
  }
  return sortNewestFirst(kept);
}

/** `latest`: upcoming, stable and oldstable, in that order, those in enabled branches. */
export function latestVersions(upstream: UpstreamVersions, branches: readonly Branch[]): string[] {
  const latest: string[] = [];
  for (const version of [
    upstream.upcoming_version,
    upstream.stable_version,
    upstream.oldstable_version,
  ]) {
    if (version && !latest.includes(version) && inEnabledBranch(version, branches)) {
      latest.push(version);
    }
  }
  return latest;
}

/**
 * Groups versions by branch for overview.json: every given branch gets an
 * entry (possibly empty), in branch order, its versions newest first. A Map,
 * because a numeric-looking branch name would reorder a plain object's keys.
 */
export function versionsByBranch(
  versions: Iterable<string>,
  branches: readonly Branch[],
): Map<string, string[]> {
  const grouped = new Map<string, string[]>(branches.map((branch) => [branch.name, []]));
  for (const version of new Set(versions)) {
    grouped.get(branchOf(version, branches))?.push(version);
  }
  for (const [name, list] of grouped) grouped.set(name, sortNewestFirst(list));
  return grouped;
}
