import {
  type Branch,
  branchOf,
  inEnabledBranch,
  isSnapshot,
  type UpstreamVersions,
} from "@asu/openwrt-releases";
import { resolvePackages } from "@asu/package-rules";
import { PREBUILD_CLIENT } from "@asu/queue";
import type { RememberedRequest } from "@asu/stats";

/** The release versions upstream announces (list, upcoming, stable, oldstable) in enabled branches. */
export function announcedReleases(
  upstream: UpstreamVersions,
  branches: readonly Branch[],
): string[] {
  const all = [
    ...(upstream.versions_list ?? []),
    upstream.upcoming_version,
    upstream.stable_version,
    upstream.oldstable_version,
  ];
  const kept = new Set<string>();
  for (const version of all) {
    if (version && !isSnapshot(version) && inEnabledBranch(version, branches)) kept.add(version);
  }
  return [...kept];
}

/** Where a new release's first wave comes from: its own branch, and migrated ones. */
export interface PrebuildSource {
  branch: string;
  /** Requests of an older branch, their packages moved to the new release's names. */
  migrated: boolean;
}

/**
 * The remembered requests a new release builds: its branch's; for a new
 * major release (a branch never seen before) also those of the previous
 * stable branch (upstream's stable version, or oldstable when the stable one
 * is this branch).
 */
export function prebuildSources(
  version: string,
  seenBefore: readonly string[],
  upstream: UpstreamVersions,
  branches: readonly Branch[],
): PrebuildSource[] {
  const branch = branchOf(version, branches);
  const sources: PrebuildSource[] = [{ branch, migrated: false }];
  const known = seenBefore.some((seen) => branchOf(seen, branches) === branch);
  if (known) return sources;
  for (const stable of [upstream.stable_version, upstream.oldstable_version]) {
    const previous = stable ? branchOf(stable, branches) : undefined;
    if (previous && previous !== branch) {
      sources.push({ branch: previous, migrated: true });
      break;
    }
  }
  return sources;
}

/**
 * The body a router sends for the new release: the remembered request with
 * `version` set, `version_code` empty and client PREBUILD_CLIENT. A prepared
 * request (skip_package_resolution) from an older branch gets the package
 * changes prepare applies from its version; a legacy one is sent by routers
 * with the names they have, and the build tier's rules apply as for them.
 */
export function prebuildBody(
  remembered: RememberedRequest,
  version: string,
  branches: readonly Branch[],
): Record<string, unknown> {
  const { skip_package_resolution: skip, ...request } = remembered;
  const packages =
    skip && remembered.version !== version
      ? resolvePackages({
          version,
          target: request.target,
          profile: request.profile,
          packages: request.packages,
          fromVersion: remembered.version,
          branches,
        }).packages
      : request.packages;
  return { ...request, packages, version, version_code: "", client: PREBUILD_CLIENT };
}
