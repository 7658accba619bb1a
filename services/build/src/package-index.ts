import { type PackageIndex, parseApkIndex, parseFeedsConf, parseOpkgPackages } from "@asu/core";
import type { MetadataClient } from "@asu/upstream";

/**
 * One upstream package index as fetched: an apk `index.json` of version 2 or
 * later, or else the opkg `Packages` file. The raw value is kept because the
 * metadata client returns the same one until upstream changes, which is what
 * the derived answers are cached by.
 */
export type IndexSource = { format: "apk"; json: object } | { format: "opkg"; text: string };

type Reader = Pick<MetadataClient, "getJson" | "getText">;

function isApkV2(json: unknown): json is object {
  if (typeof json !== "object" || json === null) return false;
  const { version } = json as { version?: unknown };
  return typeof version === "number" && version >= 2;
}

/**
 * Reads the index in `dir` (`…/targets/ath79/generic/packages`): index.json
 * when it says version 2 (ABI-free names, served as they are), else the opkg
 * `Packages` file, else undefined. An older index.json alone is not served:
 * its names carry ABI suffixes that clients cannot match.
 */
export async function readIndexSource(
  client: Reader,
  dir: string,
): Promise<IndexSource | undefined> {
  const json = await client.getJson<unknown>(`${dir}/index.json`);
  if (isApkV2(json)) return { format: "apk", json };
  const text = await client.getText(`${dir}/Packages`);
  return text === undefined ? undefined : { format: "opkg", text };
}

/** The identity the derived answers are cached by. */
export function sourceIdentity(source: IndexSource | undefined): unknown {
  if (source === undefined) return undefined;
  return source.format === "apk" ? source.json : source.text;
}

export function parseIndexSource(source: IndexSource): PackageIndex {
  if (source.format === "opkg") return parseOpkgPackages(source.text);
  return parseApkIndex(source.json) ?? { architecture: "", packages: {} };
}

/**
 * A target's index with its kernel modules merged in (modules win on a name
 * both list, as they are the newer split-out copy). `{}` when the target has
 * no index at all, as the Python server answers.
 */
export function targetIndexAnswer(
  base: IndexSource | undefined,
  kmods: IndexSource | undefined,
): PackageIndex | Record<string, never> {
  if (base === undefined) return {};
  const index = parseIndexSource(base);
  if (kmods === undefined) return index;
  return {
    architecture: index.architecture,
    packages: { ...index.packages, ...parseIndexSource(kmods).packages },
  };
}

/** A feed name becomes a path segment; one that could leave the folder names no feed. */
const isFeedName = (name: string) => name !== "." && name !== ".." && !/[/\\\0]/.test(name);

/** The feed names of `{dir}/feeds.conf`, none when upstream has no such file. */
export async function readFeeds(client: Reader, dir: string): Promise<string[]> {
  const text = await client.getText(`${dir}/feeds.conf`);
  return text === undefined ? [] : parseFeedsConf(text).filter(isFeedName);
}

/**
 * An architecture's packages over all feeds, as one flat name → version map;
 * a later feed wins on a name two feeds list. Feeds without an index add
 * nothing.
 */
export function feedIndexAnswer(
  feeds: readonly (IndexSource | undefined)[],
): Record<string, string> {
  // A Map, not Object.assign: a package named `__proto__` must stay a package.
  const packages = new Map<string, string>();
  for (const source of feeds) {
    if (source === undefined) continue;
    for (const [name, version] of Object.entries(parseIndexSource(source).packages)) {
      packages.set(name, version);
    }
  }
  return Object.fromEntries(packages);
}
