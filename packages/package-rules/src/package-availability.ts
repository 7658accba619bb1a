import type { IndexNames } from "@asu/imagebuilder-formats";
import { compareCodePoints } from "@asu/python-compat";

/** One index a search read, named by its URL for messages. */
export interface SearchedIndex {
  url: string;
  names: IndexNames;
}

/** An index the ImageBuilder would use whose content could not be read. */
export interface UnreadableIndex {
  url: string;
  reason: string;
}

/**
 * Every index the ImageBuilder of a version, target and profile installs
 * from: the target's packages, the kernel modules of the profile's kernel,
 * the feeds of the architecture's feeds.conf and the request's own
 * repositories. An index that could not be read makes absent names unknown.
 */
export interface IndexSearch {
  indexes: readonly SearchedIndex[];
  unreadable: readonly UnreadableIndex[];
}

export type Availability =
  | { status: "available"; package: string; version: string; url: string }
  | { status: "missing" }
  | { status: "unknown"; reason: string };

/**
 * Names the apk ImageBuilder resolves through provides that index.json does
 * not list: shared objects, commands and pkg-config modules.
 */
const VIRTUAL_PREFIXES = ["so:", "cmd:", "pc:"] as const;
/** An ABI version suffix: `libubox20240329`, `libmbedtls21`, `libjson-c5`. */
const ABI_SUFFIX = /^(.*?[^\d.])(\d[\d.]*)$/;

function lookup(name: string, index: SearchedIndex): Availability | undefined {
  const { versions, aliases } = index.names;
  const own = versions.get(name);
  if (own !== undefined)
    return { status: "available", package: name, version: own, url: index.url };
  const provider = aliases.get(name);
  const version = provider === undefined ? undefined : versions.get(provider);
  if (provider === undefined || version === undefined) return undefined;
  return { status: "available", package: provider, version, url: index.url };
}

/**
 * Whether another package of an index without provides may provide `name`:
 * a variant `name-x` (`dnsmasq-full` provides `dnsmasq`) or the ABI-suffixed
 * form of a listed library.
 */
function mayBeProvided(name: string, names: IndexNames): boolean {
  const abi = ABI_SUFFIX.exec(name);
  if (abi?.[1] !== undefined && names.versions.has(abi[1])) return true;
  const variant = `${name}-`;
  for (const listed of names.versions.keys()) {
    if (listed.startsWith(variant)) return true;
  }
  return false;
}

/**
 * Where the ImageBuilder would find one requested name. A removal (`-name`)
 * is always accepted; "missing" only when every index was read and none can
 * supply the name, so no name the ImageBuilder would accept is refused.
 */
export function packageAvailability(name: string, search: IndexSearch): Availability {
  if (name.startsWith("-")) return { status: "available", package: name, version: "", url: "" };
  for (const index of search.indexes) {
    const found = lookup(name, index);
    if (found) return found;
  }
  if (VIRTUAL_PREFIXES.some((prefix) => name.startsWith(prefix))) {
    return { status: "unknown", reason: "a virtual name that apk resolves through provides" };
  }
  const withoutProvides = search.indexes.find(
    (index) => !index.names.listsProvides && mayBeProvided(name, index.names),
  );
  if (withoutProvides) {
    return {
      status: "unknown",
      reason: `may be provided by another package of ${withoutProvides.url}, whose index lists no provides`,
    };
  }
  const unreadable = search.unreadable[0];
  if (unreadable) {
    return {
      status: "unknown",
      reason: `${unreadable.url} could not be read (${unreadable.reason})`,
    };
  }
  if (search.indexes.length === 0) return { status: "unknown", reason: "no package index found" };
  return { status: "missing" };
}

export interface VersionMismatch {
  package: string;
  want: string;
  got: string;
}

export interface AvailabilityReport {
  /** Certainly missing, sorted as the ImageBuilder failure lists them. */
  missing: string[];
  /** Could not be checked; never refused. */
  unknown: { package: string; reason: string }[];
  /** packages_versions pins the indexes contradict, in pin order. */
  mismatches: VersionMismatch[];
}

/**
 * Checks the package list a worker would build, and the versions pinned,
 * against the indexes. A pin is contradicted only when the name was found
 * and nothing unread could hold the wanted version.
 */
export function checkAvailability(
  packages: readonly string[],
  search: IndexSearch,
  pins: Readonly<Record<string, string>> = {},
): AvailabilityReport {
  const missing = new Set<string>();
  const unknown: AvailabilityReport["unknown"] = [];
  const found = new Map<string, Extract<Availability, { status: "available" }>>();
  for (const name of new Set(packages)) {
    const availability = packageAvailability(name, search);
    if (availability.status === "missing") missing.add(name);
    else if (availability.status === "unknown") {
      unknown.push({ package: name, reason: availability.reason });
    } else found.set(name, availability);
  }
  const mismatches: VersionMismatch[] = [];
  if (search.unreadable.length === 0) {
    for (const [name, want] of Object.entries(pins)) {
      const available = found.get(name);
      if (!available || available.package !== name) continue;
      const versions = search.indexes
        .map((index) => index.names.versions.get(name))
        .filter((version): version is string => version !== undefined);
      if (versions.includes(want)) continue;
      mismatches.push({ package: name, want, got: available.version });
    }
  }
  return { missing: [...missing].sort(compareCodePoints), unknown, mismatches };
}

/**
 * The failure the worker would report for this selection, in the contract's
 * words (missing first, as `make manifest` fails before versions are
 * compared); undefined when nothing is certainly wrong.
 */
export function availabilityFailure(report: AvailabilityReport): string | undefined {
  if (report.missing.length > 0) {
    return `Error: Impossible package selection: missing (${report.missing.join(", ")})`;
  }
  const mismatch = report.mismatches[0];
  if (mismatch) {
    return `Error: Impossible package selection: ${mismatch.package} version not as requested: ${mismatch.want} vs. ${mismatch.got}`;
  }
  return undefined;
}
