import type { IndexNames } from "@asu/imagebuilder-formats";
import {
  type Branch,
  branchPath,
  findBranch,
  hasSplitKmods,
  kmodsDirectory,
  type ProfilesJson,
} from "@asu/openwrt-releases";
import type { IndexSearch, SearchedIndex, UnreadableIndex } from "@asu/package-rules";
import {
  type IndexSource,
  indexSourceNames,
  readFeedNames,
  readIndexSource,
  sourceIdentity,
} from "./index-sources.ts";
import type { MetadataClient } from "./metadata-client.ts";
import { createRepositoryIndexes, type RepositoryIndexes } from "./repository-indexes.ts";

export interface IndexSearchInput {
  version: string;
  target: string;
  /** The target's package architecture (`.targets.json`). */
  architecture: string;
  /** The target's profiles.json: its `linux_kernel` names the kmods folder. */
  metadata: Pick<ProfilesJson, "linux_kernel">;
  /** The request's own repositories, name → URL. */
  repositories?: Readonly<Record<string, string>>;
}

export interface PackageIndexesOptions {
  client: Pick<MetadataClient, "getJson" | "getText" | "url">;
  branches: readonly Branch[];
  /** Reads custom repositories; default: a reader with a 3 s timeout. */
  repositories?: RepositoryIndexes;
  /** Parsed indexes kept (each one upstream file), least recently used dropped. Default 128. */
  maxParsed?: number;
  /**
   * How long one search (a version, target and kernel, no repositories of
   * the request's own) is reused without asking the metadata client again
   * (default 0: never). Each search reads a dozen cached files and parses
   * feeds.conf; under a flood of new bodies that is a good share of a
   * prepare. A change upstream goes unseen at most this much longer.
   */
  reuseForMs?: number;
  now?: () => number;
}

/**
 * The package indexes an ImageBuilder installs from, as one search: both
 * tiers check requests against it. Files come through the cached metadata
 * client (revalidated like all metadata); each is parsed once per upstream
 * version of the file.
 */
export interface PackageIndexes {
  search(input: IndexSearchInput): Promise<IndexSearch>;
}

const DEFAULT_MAX_PARSED = 128;
/** Searches reused at most: one per version, target and kernel asked lately. */
const MAX_REUSED = 64;

/** UpstreamUnavailableError already says which file and why. */
const failureReason = (error: unknown) => (error instanceof Error ? error.message : String(error));

type Client = PackageIndexesOptions["client"];
type Outcome = { index: SearchedIndex } | { unreadable: UnreadableIndex };

/** Each index parsed once per upstream version of its file; the least recently used dropped. */
function parsedIndexes(maxParsed: number) {
  const parsed = new Map<string, { identity: unknown; names: IndexNames }>();
  return function namesOf(dir: string, source: IndexSource): IndexNames {
    const identity = sourceIdentity(source);
    const entry = parsed.get(dir);
    parsed.delete(dir);
    if (entry && entry.identity === identity) {
      parsed.set(dir, entry);
      return entry.names;
    }
    const names = indexSourceNames(source);
    parsed.set(dir, { identity, names });
    while (parsed.size > maxParsed) {
      const oldest = parsed.keys().next();
      if (oldest.done) break;
      parsed.delete(oldest.value);
    }
    return names;
  };
}

async function readDir(
  client: Client,
  namesOf: ReturnType<typeof parsedIndexes>,
  dir: string,
): Promise<Outcome> {
  try {
    const source = await readIndexSource(client, dir);
    if (source === undefined) {
      return { unreadable: { url: client.url(`${dir}/`), reason: "no index published" } };
    }
    const file = source.format === "apk" ? "index.json" : "Packages";
    return { index: { url: client.url(`${dir}/${file}`), names: namesOf(dir, source) } };
  } catch (error) {
    return { unreadable: { url: client.url(`${dir}/`), reason: failureReason(error) } };
  }
}

async function feedDirs(client: Client, dir: string): Promise<string[] | UnreadableIndex> {
  try {
    const feeds = await readFeedNames(client, dir);
    if (feeds === undefined) {
      return { url: client.url(`${dir}/feeds.conf`), reason: "no feeds.conf published" };
    }
    return feeds.map((feed) => `${dir}/${feed}`);
  } catch (error) {
    return { url: client.url(`${dir}/feeds.conf`), reason: failureReason(error) };
  }
}

/** The folders an ImageBuilder of `input` installs from (target, kmods, feeds), and those unreadable. */
async function indexDirs(client: Client, branch: Branch, base: string, input: IndexSearchInput) {
  const unreadable: UnreadableIndex[] = [];
  const targetDir = `${base}/targets/${input.target}`;
  const dirs = [`${targetDir}/packages`];
  if (hasSplitKmods(input.version, branch)) {
    const kernel = kmodsDirectory(input.metadata.linux_kernel);
    if (kernel === undefined) {
      unreadable.push({
        url: client.url(`${targetDir}/kmods/`),
        reason: "profiles.json names no kernel",
      });
    } else dirs.push(`${targetDir}/kmods/${kernel}`);
  }
  const feeds = await feedDirs(client, `${base}/packages/${input.architecture}`);
  if (Array.isArray(feeds)) dirs.push(...feeds);
  else unreadable.push(feeds);
  return { dirs, unreadable };
}

/** Searches shared while at most `reuseForMs` old, one per version, target and kernel. */
function reusedSearches(
  reuseForMs: number,
  now: () => number,
  searchIndexes: (input: IndexSearchInput) => Promise<IndexSearch>,
) {
  const reused = new Map<string, { until: number; search: Promise<IndexSearch> }>();
  return (input: IndexSearchInput): Promise<IndexSearch> => {
    const key = `${input.version}\n${input.target}\n${input.architecture}\n${kmodsDirectory(input.metadata.linux_kernel) ?? ""}`;
    const at = now();
    const entry = reused.get(key);
    if (entry && at < entry.until) return entry.search;
    const search = searchIndexes(input);
    reused.delete(key);
    reused.set(key, { until: at + reuseForMs, search });
    search.catch(() => {
      if (reused.get(key)?.search === search) reused.delete(key);
    });
    // Oldest first in a Map: drop entries past the bound.
    while (reused.size > MAX_REUSED) {
      const oldest = reused.keys().next();
      if (oldest.done) break;
      reused.delete(oldest.value);
    }
    return search;
  };
}

export function createPackageIndexes(options: PackageIndexesOptions): PackageIndexes {
  const { client, branches } = options;
  const repositories = options.repositories ?? createRepositoryIndexes();
  const namesOf = parsedIndexes(options.maxParsed ?? DEFAULT_MAX_PARSED);

  async function searchIndexes(input: IndexSearchInput): Promise<IndexSearch> {
    const branch = findBranch(input.version, branches);
    if (!branch) {
      return { indexes: [], unreadable: [{ url: input.version, reason: "unknown branch" }] };
    }
    const base = branchPath(input.version, branches) ?? "";
    const { dirs, unreadable } = await indexDirs(client, branch, base, input);
    const [outcomes, custom] = await Promise.all([
      Promise.all(dirs.map((dir) => readDir(client, namesOf, dir))),
      Promise.all(Object.values(input.repositories ?? {}).map((url) => repositories.read(url))),
    ]);
    const indexes: SearchedIndex[] = [];
    for (const outcome of outcomes) {
      if ("index" in outcome) indexes.push(outcome.index);
      else unreadable.push(outcome.unreadable);
    }
    for (const repository of custom) {
      if (repository.ok) indexes.push({ url: repository.url, names: repository.names });
      else unreadable.push({ url: repository.url, reason: repository.reason });
    }
    return { indexes, unreadable };
  }

  const reuseForMs = options.reuseForMs ?? 0;
  const reusedSearch = reusedSearches(reuseForMs, options.now ?? Date.now, searchIndexes);
  return {
    search(input) {
      const ownRepositories = input.repositories && Object.keys(input.repositories).length > 0;
      if (reuseForMs <= 0 || ownRepositories) return searchIndexes(input);
      return reusedSearch(input);
    },
  };
}
