import type { PackageChange } from "@asu/openwrt-releases";
import {
  checkAvailability,
  type IndexSearch,
  packageAvailability,
} from "./package-availability.ts";
import { suggestPackages } from "./package-suggestions.ts";

export type ProblemReason = "not_found" | "version_unavailable" | "removed_in_version" | "unknown";

/** One entry of the prepare answer's `problems`; serialised as-is. */
export interface PackageProblem {
  package: string;
  reason: ProblemReason;
  detail: string;
  /** Real names from the same indexes, best first. */
  suggestions: string[];
}

export interface ProblemInput {
  /** The list that will be built (resolved, `-name` removals included). */
  packages: readonly string[];
  /** Versions pinned; checked only for releases, as the worker's manifest check does. */
  pins?: Readonly<Record<string, string>>;
  version: string;
  search: IndexSearch;
  /** The device's current version and its indexes for this target, for `removed_in_version`. */
  from?: { version: string; search: IndexSearch };
  changes?: readonly PackageChange[];
}

/**
 * What prepare reports about a package list before anything is built: each
 * package no index has (with what the user probably meant), pins the index
 * contradicts, and what could not be checked. Empty when all is well.
 */
export function packageProblems(input: ProblemInput): PackageProblem[] {
  const { search, version } = input;
  const report = checkAvailability(input.packages, search, input.pins ?? {});
  const suggestions = (name: string) =>
    suggestPackages(name, search, input.changes ? { changes: input.changes } : {});
  const problems: PackageProblem[] = [];
  for (const name of input.packages) {
    if (!report.missing.includes(name) || problems.some((p) => p.package === name)) continue;
    const from = input.from;
    if (from && packageAvailability(name, from.search).status === "available") {
      problems.push({
        package: name,
        reason: "removed_in_version",
        detail: `${name} is in ${from.version} but not in ${version} for this target`,
        suggestions: suggestions(name),
      });
    } else {
      problems.push({
        package: name,
        reason: "not_found",
        detail: `No package index of ${version} for this target has ${name}`,
        suggestions: suggestions(name),
      });
    }
  }
  for (const mismatch of report.mismatches) {
    problems.push({
      package: mismatch.package,
      reason: "version_unavailable",
      detail: `${mismatch.package} ${mismatch.want} is not available; the index has ${mismatch.got}`,
      suggestions: [],
    });
  }
  for (const unknown of report.unknown) {
    problems.push({
      package: unknown.package,
      reason: "unknown",
      detail: `Could not be checked: ${unknown.reason}`,
      suggestions: [],
    });
  }
  return problems;
}
