import type { Branch, TargetsJson } from "@asu/openwrt-releases";

/** A branch as branches.json and overview.json serve it. */
export interface BranchSummary extends Branch {
  /** The server's versions of this branch, newest first. */
  versions: string[];
  /** target → package architecture, from the branch's newest published version. */
  targets: TargetsJson;
}

/** overview.json's `server`: the limits clients check before sending a build. */
export interface ServerSummary {
  version: string;
  contact: string;
  allow_defaults: boolean;
  repository_allow_list: readonly string[];
  max_custom_rootfs_size_mb: number;
  max_defaults_length: number;
}

export interface OverviewParts {
  latest: readonly string[];
  branches: readonly BranchSummary[];
  upstreamUrl: string;
  server: ServerSummary;
}

/**
 * Every configured branch, in table order, with its versions and targets.
 * A branch without versions (disabled, or nothing published yet) is listed
 * with none, so clients still see its path and package changes.
 */
export function branchSummaries(
  branches: readonly Branch[],
  versions: ReadonlyMap<string, readonly string[]>,
  targets: ReadonlyMap<string, TargetsJson>,
): BranchSummary[] {
  return branches.map((branch) => ({
    ...branch,
    versions: [...(versions.get(branch.name) ?? [])],
    targets: targets.get(branch.name) ?? {},
  }));
}

/**
 * overview.json as text. `branches` is an object keyed by branch name, written
 * by hand so that the branch table's order survives even for names a
 * JavaScript object would reorder (integer-like ones such as `25`).
 */
export function overviewJson(parts: OverviewParts): string {
  const branches = parts.branches
    .map((branch) => `${JSON.stringify(branch.name)}:${JSON.stringify(branch)}`)
    .join(",");
  return (
    `{"latest":${JSON.stringify(parts.latest)},` +
    `"branches":{${branches}},` +
    `"upstream_url":${JSON.stringify(parts.upstreamUrl)},` +
    `"server":${JSON.stringify(parts.server)}}`
  );
}
