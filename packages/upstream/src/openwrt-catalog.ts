import {
  type Branch,
  branchPath,
  latestVersions,
  matchProfile,
  type ProfilesJson,
  serverVersions,
  type TargetsJson,
  type VersionsJson,
} from "@asu/openwrt-releases";
import type { MetadataClient } from "./metadata-client.ts";
import { UpstreamUnavailableError } from "./upstream-errors.ts";

export interface CatalogOptions {
  client: MetadataClient;
  branches: readonly Branch[];
  /**
   * A miss re-reads upstream at most this often per file, so a flood of
   * requests for a version that does not exist cannot flood upstream.
   */
  missRefreshIntervalMs?: number;
  now?: () => number;
}

export interface ServerVersions {
  versions: string[];
  latest: string[];
}

export interface ProfileMatch {
  id: string;
  metadata: ProfilesJson;
}

/**
 * What upstream offers (versions, targets, profiles), read through the cached
 * metadata client. A lookup that misses re-reads upstream once before saying
 * no, so new releases appear without a restart.
 */
export interface OpenwrtCatalog {
  branches: readonly Branch[];
  versions(): Promise<ServerVersions>;
  hasVersion(version: string): Promise<boolean>;
  /** target → package architecture, or undefined when upstream has no such version path. */
  targets(version: string): Promise<TargetsJson | undefined>;
  targetArchitecture(version: string, target: string): Promise<string | undefined>;
  profiles(version: string, target: string): Promise<ProfilesJson | undefined>;
  findProfile(
    version: string,
    target: string,
    requested: string,
  ): Promise<ProfileMatch | undefined>;
  /** The upstream path of a version (`releases/24.10.0`), undefined for an unknown branch. */
  versionPath(version: string): string | undefined;
}

const DEFAULT_MISS_REFRESH_INTERVAL_MS = 10_000;

/**
 * The server's version lists of an upstream .versions.json. The client hands
 * out the same frozen object until upstream changes, so they are computed
 * once per upstream version of the file.
 */
function versionsDeriver(branches: readonly Branch[]) {
  const derived = new WeakMap<VersionsJson, ServerVersions>();
  return (upstream: VersionsJson): ServerVersions => {
    let value = derived.get(upstream);
    if (value === undefined) {
      value = {
        versions: serverVersions(upstream, branches),
        latest: latestVersions(upstream, branches),
      };
      derived.set(upstream, value);
    }
    return value;
  };
}

/** Reads a file, and on a miss re-reads it once unless that was done just now. */
function missRefresher(client: MetadataClient, interval: number, now: () => number) {
  const lastMissRefresh = new Map<string, number>();
  return async <T>(path: string | undefined, found: (value: T | undefined) => boolean) => {
    if (path === undefined) return undefined;
    const cached = await client.getJson<T>(path);
    if (found(cached)) return cached;
    const last = lastMissRefresh.get(path);
    if (last !== undefined && now() - last < interval) return cached;
    lastMissRefresh.set(path, now());
    return client.getJson<T>(path, { refresh: true });
  };
}

/*
 * Paths are built from request fields; one that the client would refuse
 * (empty segments from a target like `/`) simply names no upstream file.
 */
const safePath = (path: string) => (/(^|\/)\.{0,2}(\/|$)/.test(path) ? undefined : path);

/** Where a version's files are upstream, by its branch; undefined for an unknown branch. */
function upstreamPaths(branches: readonly Branch[]) {
  const versionPath = (version: string) => branchPath(version, branches) ?? undefined;
  return {
    versionPath,
    targets(version: string) {
      const base = versionPath(version);
      return base === undefined ? undefined : safePath(`${base}/.targets.json`);
    },
    profiles(version: string, target: string) {
      const base = versionPath(version);
      return base === undefined ? undefined : safePath(`${base}/targets/${target}/profiles.json`);
    },
  };
}

const noVersionsJson = (client: MetadataClient) =>
  new UpstreamUnavailableError(client.url(".versions.json"), "upstream has no .versions.json");

export function createOpenwrtCatalog(options: CatalogOptions): OpenwrtCatalog {
  const { client, branches } = options;
  const lookup = missRefresher(
    client,
    options.missRefreshIntervalMs ?? DEFAULT_MISS_REFRESH_INTERVAL_MS,
    options.now ?? Date.now,
  );
  const deriveVersions = versionsDeriver(branches);
  const paths = upstreamPaths(branches);
  const read = <T>(path: string | undefined) =>
    path === undefined ? Promise.resolve(undefined) : client.getJson<T>(path);

  return {
    branches,
    versionPath: paths.versionPath,

    async versions() {
      const value = await client.getJson<VersionsJson>(".versions.json", { refresh: false });
      if (!value) throw noVersionsJson(client);
      return deriveVersions(value);
    },

    async hasVersion(version) {
      const inList = (upstream: VersionsJson | undefined) =>
        upstream !== undefined && deriveVersions(upstream).versions.includes(version);
      const upstream = await lookup<VersionsJson>(".versions.json", inList);
      if (upstream === undefined) throw noVersionsJson(client);
      return inList(upstream);
    },

    async targets(version) {
      return read<TargetsJson>(paths.targets(version));
    },

    async targetArchitecture(version, target) {
      const targets = await lookup<TargetsJson>(
        paths.targets(version),
        (value) => value !== undefined && Object.hasOwn(value, target),
      );
      return targets && Object.hasOwn(targets, target) ? targets[target] : undefined;
    },

    async profiles(version, target) {
      return read<ProfilesJson>(paths.profiles(version, target));
    },

    async findProfile(version, target, requested) {
      const metadata = await lookup<ProfilesJson>(
        paths.profiles(version, target),
        (value) =>
          value?.profiles !== undefined && matchProfile(value.profiles, requested) !== undefined,
      );
      if (!metadata?.profiles) return undefined;
      const id = matchProfile(metadata.profiles, requested);
      return id === undefined ? undefined : { id, metadata };
    },
  };
}

/**
 * Targets of a branch's newest version that upstream has published them
 * for (`versions` newest first): right after a release is announced its
 * folder may still be empty.
 */
export async function newestTargets(
  catalog: Pick<OpenwrtCatalog, "targets">,
  versions: readonly string[],
): Promise<TargetsJson | undefined> {
  for (const version of versions) {
    const targets = await catalog.targets(version);
    if (targets !== undefined) return targets;
  }
  return undefined;
}
