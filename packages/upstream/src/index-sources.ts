import {
  apkIndexNames,
  type IndexNames,
  opkgIndexNames,
  type PackageIndex,
  parseApkIndex,
  parseFeedsConf,
  parseOpkgPackages,
} from "@asu/imagebuilder-formats";
import type { MetadataClient } from "./metadata-client.ts";

/**
 * One upstream package index as fetched: an apk `index.json` of version 2 or
 * later, or else the opkg `Packages` file. The raw value is kept because the
 * metadata client returns the same one until upstream changes, which is what
 * derived answers are cached by.
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
 * `Packages` file, else undefined. An older index.json alone is not used:
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

/** The identity derived values are cached by. */
export function sourceIdentity(source: IndexSource | undefined): unknown {
  if (source === undefined) return undefined;
  return source.format === "apk" ? source.json : source.text;
}

export function parseIndexSource(source: IndexSource): PackageIndex {
  if (source.format === "opkg") return parseOpkgPackages(source.text);
  return parseApkIndex(source.json) ?? { architecture: "", packages: {} };
}

/** The names an index installs, for the availability check. */
export function indexSourceNames(source: IndexSource): IndexNames {
  if (source.format === "opkg") return opkgIndexNames(source.text);
  return (
    apkIndexNames(source.json) ?? { versions: new Map(), aliases: new Map(), listsProvides: false }
  );
}

/** A feed name becomes a path segment; one that could leave the folder names no feed. */
const isFeedName = (name: string) => name !== "." && name !== ".." && !/[/\\\0]/.test(name);

/** The feed names of `{dir}/feeds.conf`; undefined when upstream has no such file. */
export async function readFeedNames(client: Reader, dir: string): Promise<string[] | undefined> {
  const text = await client.getText(`${dir}/feeds.conf`);
  return text === undefined ? undefined : parseFeedsConf(text).filter(isFeedName);
}

/** The feed names of `{dir}/feeds.conf`, none when upstream has no such file. */
export async function readFeeds(client: Reader, dir: string): Promise<string[]> {
  return (await readFeedNames(client, dir)) ?? [];
}
