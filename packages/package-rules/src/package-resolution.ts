import type { BuildRequest } from "@asu/contract";
import { requestedPackages } from "@asu/contract";
import type { Branch, PackageChange } from "@asu/openwrt-releases";
import { findBranch, versionRevision } from "@asu/openwrt-releases";
import type { PackageRule } from "./package-rules.ts";
import { matchesVersion, PACKAGE_RULES, versionLabel } from "./package-rules.ts";

export type ChangeType = "migration" | "device" | "language";
export type ChangeAction = "replace" | "add" | "remove";

/** One reported change; serialised as-is in the prepare answer's `changes`. */
export interface ChangeRecord {
  type: ChangeType;
  action: ChangeAction;
  from_package: string | null;
  to_package: string | null;
  reason: string;
  automatic: boolean;
}

export interface Resolution {
  packages: string[];
  changes: ChangeRecord[];
}

export interface RuleInput {
  version: string;
  target: string;
  profile: string;
  packages: readonly string[];
}

export interface ResolveInput extends RuleInput {
  /** The version the device runs now; enables the package-changes migrations. */
  fromVersion?: string | null;
  branches: readonly Branch[];
}

/**
 * A package list being edited, recording every edit. Replacing keeps the
 * position; when the new name is already listed the old one is just dropped,
 * so no edit ever creates a duplicate and re-running an edit changes nothing.
 */
class PackageEdit {
  readonly packages: string[];
  readonly changes: ChangeRecord[] = [];

  constructor(packages: readonly string[]) {
    this.packages = [...packages];
  }

  add(name: string, type: ChangeType, reason: string): void {
    if (this.packages.includes(name)) return;
    this.packages.push(name);
    this.record(type, "add", null, name, reason);
  }

  remove(name: string, type: ChangeType, reason: string): void {
    if (!this.drop(name)) return;
    this.record(type, "remove", name, null, reason);
  }

  replace(from: string, to: string, type: ChangeType, reason: string): void {
    if (from === to) return;
    const at = this.packages.indexOf(from);
    if (at === -1) return;
    if (this.packages.includes(to)) {
      this.drop(from);
    } else {
      this.packages[at] = to;
      this.drop(from);
    }
    this.record(type, "replace", from, to, reason);
  }

  /** Removes every occurrence; true when there was one. */
  private drop(name: string): boolean {
    let dropped = false;
    for (let i = this.packages.length - 1; i >= 0; i--) {
      if (this.packages[i] === name) {
        this.packages.splice(i, 1);
        dropped = true;
      }
    }
    return dropped;
  }

  private record(
    type: ChangeType,
    action: ChangeAction,
    from: string | null,
    to: string | null,
    reason: string,
  ): void {
    this.changes.push({
      type,
      action,
      from_package: from,
      to_package: to,
      reason,
      automatic: true,
    });
  }

  result(): Resolution {
    return { packages: [...this.packages], changes: [...this.changes] };
  }
}

/** A leading `+` on a package name means nothing to the server (Python `removeprefix("+")`). */
export function stripPlus(packages: readonly string[]): string[] {
  return packages.map((name) => (name.startsWith("+") ? name.slice(1) : name));
}

function ruleApplies(rule: PackageRule, input: RuleInput): boolean {
  if (!matchesVersion(rule.when, input.version)) return false;
  if (rule.kind !== "add") return true;
  if (rule.targets && !rule.targets.includes(input.target)) return false;
  if (rule.profiles && !rule.profiles.includes(input.profile)) return false;
  return true;
}

function applyRule(rule: PackageRule, input: RuleInput, edit: PackageEdit): void {
  switch (rule.kind) {
    case "add": {
      const label = versionLabel(rule.when);
      const reason = rule.profiles
        ? `Required for ${input.profile} (${input.target}) in ${label}`
        : `Required for ${input.target} in ${label}`;
      for (const name of rule.add) edit.add(name, "device", reason);
      return;
    }
    case "replace":
      edit.replace(rule.from, rule.to, "migration", rule.reason);
      return;
    case "remove":
      for (const name of rule.remove) edit.remove(name, "migration", rule.reason);
      return;
    case "remove-matching":
      for (const name of edit.packages.filter((candidate) => rule.pattern.test(candidate))) {
        edit.remove(name, "language", rule.reason);
      }
      return;
    case "rename-prefix":
      for (const name of edit.packages.filter((candidate) =>
        candidate.startsWith(rule.fromPrefix),
      )) {
        const renamed = rule.toPrefix + name.slice(rule.fromPrefix.length);
        edit.replace(name, renamed, "language", rule.reason);
      }
      return;
  }
}

function runRules(input: RuleInput, rules: readonly PackageRule[], edit: PackageEdit): void {
  for (const rule of rules) {
    if (ruleApplies(rule, input)) applyRule(rule, input, edit);
  }
}

/**
 * The server-side rules alone: what /build applies to a request without
 * `skip_package_resolution`, and the worker's package step.
 */
export function applyServerRules(
  input: RuleInput,
  rules: readonly PackageRule[] = PACKAGE_RULES,
): Resolution {
  const edit = new PackageEdit(stripPlus(input.packages));
  runRules(input, rules, edit);
  return edit.result();
}

/**
 * The release branch a change first shipped in: the oldest branch whose
 * branch-off revision includes it, else the snapshot branch.
 */
function branchIntroducing(revision: number, branches: readonly Branch[]): string {
  let best: Branch | undefined;
  for (const branch of branches) {
    const off = branch.branch_off_rev;
    if (off === undefined || off < revision) continue;
    if (best?.branch_off_rev === undefined || off < best.branch_off_rev) best = branch;
  }
  return best?.name ?? branches.find((branch) => branch.snapshot)?.name ?? "SNAPSHOT";
}

/**
 * The package-changes entries between two versions: revision in
 * (from, to], taken from the target version's branch, oldest first so chained
 * renames apply in turn. Empty when either version's branch is unknown:
 * a list we cannot place is left as the client sent it.
 */
export function migrationsBetween(
  fromVersion: string,
  toVersion: string,
  branches: readonly Branch[],
): PackageChange[] {
  const from = versionRevision(fromVersion, branches);
  const to = versionRevision(toVersion, branches);
  const branch = findBranch(toVersion, branches);
  if (from === null || to === null || !branch) return [];
  return branch.package_changes
    .filter((change) => change.revision > from && change.revision <= to)
    .sort((a, b) => a.revision - b.revision);
}

/**
 * Resolves a request's package list: migrations from `fromVersion`, then the
 * server-side rules, each edit reported once; `mandatory` changes nothing, as
 * the new image's defaults settle those. Idempotent.
 */
export function resolvePackages(input: ResolveInput): Resolution {
  const edit = new PackageEdit(stripPlus(input.packages));
  if (input.fromVersion) {
    for (const change of migrationsBetween(input.fromVersion, input.version, input.branches)) {
      const branch = branchIntroducing(change.revision, input.branches);
      if (change.target === undefined) {
        edit.remove(change.source, "migration", `Package removed in ${branch}`);
      } else {
        edit.replace(change.source, change.target, "migration", `Package renamed in ${branch}`);
      }
    }
  }
  runRules(input, PACKAGE_RULES, edit);
  return edit.result();
}

/**
 * The packages a build asks the ImageBuilder for, before its defaults: a
 * prepared request (skip_package_resolution) as sent, a legacy one with the
 * server-side rules applied. The worker builds this; the statistics count it.
 */
export function packagesForBuild(
  request: Pick<BuildRequest, "version" | "target" | "profile" | "packages" | "packages_versions">,
  options: { skipPackageResolution: boolean },
): string[] {
  const requested = requestedPackages(request, options);
  if (options.skipPackageResolution) return stripPlus(requested);
  return applyServerRules({
    version: request.version,
    target: request.target,
    profile: request.profile,
    packages: requested,
  }).packages;
}
