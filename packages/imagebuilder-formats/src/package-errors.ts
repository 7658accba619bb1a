import { compareCodePoints } from "@asu/python-compat";
/** Packages named in a failed `make manifest`'s stderr. */
export interface PackageErrors {
  missing: string[];
  conflicts: string[];
}

type Finding = keyof PackageErrors;

/**
 * One line-shaped complaint of opkg or apk; group 1 is the package. Every
 * pattern is global and multi-line and never crosses a line break.
 */
const PACKAGE_ERROR_RULES: readonly { finding: Finding; pattern: RegExp }[] = [
  // opkg: " * opkg_install_cmd: Cannot install package X."
  { finding: "missing", pattern: /Cannot install package (\S+)\./gm },
  // apk: "  X (no such package):"
  { finding: "missing", pattern: /(?:^|[ \t])(\S+) \(no such package\)/gm },
  // opkg: " * check_data_file_clashes: Package X wants to install file …"
  { finding: "conflicts", pattern: /check_data_file_clashes: Package (\S+) wants to/gm },
  // opkg: "\tBut that file is already provided by package  * Y"
  { finding: "conflicts", pattern: /is already provided by package\s+\* (\S+)[ \t]*$/gm },
  // opkg: " * check_conflicts_for: The following packages conflict with X:"
  //       " * check_conflicts_for: \tY * "
  { finding: "conflicts", pattern: /\* check_conflicts_for:.*[ \t](\S+)(?: \*|:)[ \t]*$/gm },
  // apk: "ERROR: X: trying to overwrite etc/config/x owned by Y."
  { finding: "conflicts", pattern: /^ERROR: (\S+): trying to overwrite /gm },
  { finding: "conflicts", pattern: /trying to overwrite .* owned by (\S+)\.[ \t]*$/gm },
];

// apk groups conflicts under the package that has them:
//   "  X:"
//   "    conflicts: Y[dep] Z[dep]"
const APK_GROUP_HEADER = /^[ \t]+([^:\s][^:]*):[ \t]*$/;
const APK_CONFLICTS_LINE = /^[ \t]+conflicts:(.*)$/;
const APK_LABELLED_LINE = /^[ \t]+[a-z][a-z ]*:/;

/** `Y[nftables=1.1.6-r1]` names Y; words without a bracket are no package. */
function apkConflictNames(text: string): string[] {
  return text
    .split(/\s+/)
    .filter((word) => word.indexOf("[") > 0)
    .map((word) => word.slice(0, word.indexOf("[")));
}

function apkGroupedConflicts(lines: readonly string[]): string[] {
  const names: string[] = [];
  lines.forEach((line, index) => {
    const conflicts = APK_CONFLICTS_LINE.exec(line);
    const owner = APK_GROUP_HEADER.exec(lines[index - 1] ?? "");
    if (conflicts?.[1] === undefined || owner?.[1] === undefined) return;
    names.push(owner[1].trim(), ...apkConflictNames(conflicts[1]));
    // apk wraps a long list onto further, deeper indented lines.
    for (const next of lines.slice(index + 1)) {
      if (!/^[ \t]/.test(next) || APK_LABELLED_LINE.test(next) || APK_GROUP_HEADER.test(next)) {
        break;
      }
      names.push(...apkConflictNames(next));
    }
  });
  return names;
}

/**
 * Collects the packages opkg or apk blamed. opkg also says "Cannot install"
 * about packages that merely conflict, so a conflicting package is never
 * reported as missing too.
 */
export function parsePackageErrors(stderr: string): PackageErrors {
  const text = stderr.replace(/\r\n?/g, "\n");
  const found: Record<Finding, Set<string>> = { missing: new Set(), conflicts: new Set() };
  for (const { finding, pattern } of PACKAGE_ERROR_RULES) {
    for (const match of text.matchAll(pattern)) {
      if (match[1] !== undefined) found[finding].add(match[1]);
    }
  }
  for (const name of apkGroupedConflicts(text.split("\n"))) found.conflicts.add(name);
  const conflicts = [...found.conflicts].sort(compareCodePoints);
  const missing = [...found.missing]
    .filter((name) => !found.conflicts.has(name))
    .sort(compareCodePoints);
  return { missing, conflicts };
}

/**
 * The failed job's detail after `make manifest`, e.g.
 * `Error: Impossible package selection: missing (a, b) conflicts (c, d)`;
 * either part is left out when empty, and both leave the bare sentence.
 */
export function packageSelectionError(stderr: string): string {
  const { missing, conflicts } = parsePackageErrors(stderr);
  const parts = [
    missing.length > 0 ? ` missing (${missing.join(", ")})` : "",
    conflicts.length > 0 ? ` conflicts (${conflicts.join(", ")})` : "",
  ].join("");
  return `Error: Impossible package selection${parts === "" ? "" : `:${parts}`}`;
}
