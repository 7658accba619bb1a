import { PACKAGE_CHANGES, type PackageChange } from "@asu/openwrt-releases";
import { compareCodePoints } from "@asu/python-compat";
import type { IndexSearch } from "./package-availability.ts";

const DEFAULT_LIMIT = 5;
const I18N_PREFIX = "luci-i18n-";
/** Renames followed in a chain at most this far, so a cyclic table cannot loop. */
const MAX_RENAME_HOPS = 8;

/** Names closer than this are offered: one slip for short names, two otherwise. */
function maxDistance(name: string): number {
  return name.length <= 4 ? 1 : 2;
}

/**
 * Optimal string alignment distance (Levenshtein plus adjacent swaps, so
 * `lcui` is one step from `luci`), giving up past `limit`.
 */
export function editDistance(a: string, b: string, limit = Number.POSITIVE_INFINITY): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let previous2: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(
        (previous[j] ?? 0) + 1,
        (current[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        value = Math.min(value, (previous2[j - 2] ?? 0) + 1);
      }
      current.push(value);
      rowMin = Math.min(rowMin, value);
    }
    if (rowMin > limit) return limit + 1;
    previous2 = previous;
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** The names of a search, arranged once for every suggestion made from it. */
interface KnownNames {
  /** Every package name the indexes list (not aliases: suggestions are names users type). */
  all: ReadonlySet<string>;
  /** The same names by length: a typo or two away is at most two letters longer or shorter. */
  byLength: ReadonlyMap<number, readonly string[]>;
  kmods: readonly string[];
  i18n: readonly string[];
}

/**
 * Per search: a search is shared by the requests of a short while (the
 * prepare tier reuses one), and its index has thousands of names, which a
 * misspelt package would otherwise walk and copy every time. A WeakMap: an
 * entry lives as long as its search does.
 */
const knownBySearch = new WeakMap<IndexSearch, KnownNames>();

function knownNames(search: IndexSearch): KnownNames {
  const cached = knownBySearch.get(search);
  if (cached) return cached;
  const all = new Set<string>();
  for (const index of search.indexes) {
    for (const name of index.names.versions.keys()) all.add(name);
  }
  const byLength = new Map<number, string[]>();
  for (const name of all) {
    const same = byLength.get(name.length);
    if (same) same.push(name);
    else byLength.set(name.length, [name]);
  }
  const known = {
    all,
    byLength,
    kmods: [...all].filter((name) => name.startsWith("kmod-")),
    i18n: [...all].filter((name) => name.startsWith(I18N_PREFIX)),
  };
  knownBySearch.set(search, known);
  return known;
}

/** The table's renames of a name, followed through chains, newest last. */
function renamesOf(name: string, changes: readonly PackageChange[]): string[] {
  const found: string[] = [];
  let current = name;
  for (let hop = 0; hop < MAX_RENAME_HOPS; hop++) {
    const change = changes.find((entry) => entry.source === current && entry.target);
    if (!change?.target || found.includes(change.target)) break;
    found.push(change.target);
    current = change.target;
  }
  return found;
}

function closeNames(name: string, names: KnownNames): string[] {
  const limit = maxDistance(name);
  const scored: { name: string; distance: number }[] = [];
  for (let length = name.length - limit; length <= name.length + limit; length++) {
    for (const candidate of names.byLength.get(length) ?? []) {
      if (candidate === name) continue;
      const distance = editDistance(name, candidate, limit);
      if (distance <= limit) scored.push({ name: candidate, distance });
    }
  }
  return scored
    .sort((a, b) => a.distance - b.distance || compareCodePoints(a.name, b.name))
    .map((entry) => entry.name);
}

/**
 * `kmod-ath10k` ↔ `kmod-ath10k-ct`: the module under its variant name, or
 * the plain module of a variant.
 */
function kmodCounterparts(name: string, names: KnownNames): string[] {
  const found: string[] = [];
  for (const candidate of names.kmods) {
    if (candidate === name) continue;
    if (candidate.startsWith(`${name}-`) || name.startsWith(`${candidate}-`)) found.push(candidate);
  }
  return found.sort((a, b) => a.length - b.length || compareCodePoints(a, b));
}

/**
 * A language pack whose app was renamed (`luci-i18n-opkg-de` →
 * `luci-i18n-package-manager-de`), else the same app in the closest
 * language that exists (`…-zh-cn` → `…-zh-hans`).
 */
function i18nCounterparts(
  name: string,
  names: KnownNames,
  changes: readonly PackageChange[],
): string[] {
  const rest = name.slice(I18N_PREFIX.length);
  const found: string[] = [];
  for (const change of changes) {
    if (!change.source.startsWith("luci-app-") || !change.target?.startsWith("luci-app-")) {
      continue;
    }
    const from = `${change.source.slice("luci-app-".length)}-`;
    if (!rest.startsWith(from)) continue;
    const renamed = `${I18N_PREFIX}${change.target.slice("luci-app-".length)}-${rest.slice(from.length)}`;
    if (names.all.has(renamed)) found.push(renamed);
  }
  // The language is one or two trailing words; the app is what precedes it.
  const words = rest.split("-");
  for (const languageWords of [2, 1]) {
    if (words.length <= languageWords) continue;
    const app = words.slice(0, -languageWords).join("-");
    const language = words[words.length - languageWords] ?? "";
    const siblings = names.i18n
      .filter((candidate) => {
        if (candidate === name || !candidate.startsWith(`${I18N_PREFIX}${app}-`)) return false;
        const other = candidate.slice(`${I18N_PREFIX}${app}-`.length);
        return other.split("-")[0] === language && other.split("-").length <= 2;
      })
      .sort(compareCodePoints);
    found.push(...siblings);
  }
  return found;
}

export interface SuggestionOptions {
  changes?: readonly PackageChange[];
  limit?: number;
}

/**
 * Real names from the indexes a user probably meant, best first: the
 * package-changes table's rename, then names a typo or two away, then the
 * counterpart of a kernel module or language pack.
 */
export function suggestPackages(
  name: string,
  search: IndexSearch,
  options: SuggestionOptions = {},
): string[] {
  const changes = options.changes ?? PACKAGE_CHANGES;
  const names = knownNames(search);
  const candidates = [
    ...renamesOf(name, changes).filter((renamed) => names.all.has(renamed)),
    ...closeNames(name, names),
    ...(name.startsWith("kmod-") ? kmodCounterparts(name, names) : []),
    ...(name.startsWith(I18N_PREFIX) ? i18nCounterparts(name, names, changes) : []),
  ];
  return [...new Set(candidates)]
    .filter((c) => c !== name)
    .slice(0, options.limit ?? DEFAULT_LIMIT);
}
