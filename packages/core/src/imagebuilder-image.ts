import { SNAPSHOT } from "./branches.ts";

const RELEASE_TAG_PATTERN = /^\d+\.\d+\.\d+(-rc\d+)?$/;
const BRANCH_SNAPSHOT_PATTERN = /^(.+)-SNAPSHOT$/;

/**
 * The ImageBuilder image tag of a version: `v{version}` for releases and
 * release candidates, `master` for SNAPSHOT, `openwrt-{branch}` for
 * `{branch}-SNAPSHOT`. Null for anything else: the Python server would invent
 * `openwrt-{version}` and fail later on a pull; null lets the caller refuse
 * with a clear message instead.
 */
export function containerTag(version: string): string | null {
  if (RELEASE_TAG_PATTERN.test(version)) return `v${version}`;
  if (version === SNAPSHOT) return "master";
  const branch = BRANCH_SNAPSHOT_PATTERN.exec(version)?.[1];
  return branch ? `openwrt-${branch}` : null;
}

/** `{base}:{target with / as -}-{tag}`, e.g. `ghcr.io/openwrt/imagebuilder:ath79-generic-v23.05.4`. */
export function imagebuilderImage(
  baseContainer: string,
  target: string,
  version: string,
): string | null {
  const tag = containerTag(version);
  return tag === null ? null : `${baseContainer}:${target.replaceAll("/", "-")}-${tag}`;
}
