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

/**
 * Where a release builds when its own image is not published yet: the
 * snapshot image of its branch (`openwrt-24.10`), else `master`. Every image
 * of the family carries setup.sh, which fetches the release's ImageBuilder.
 * Empty for snapshots: their image is already a snapshot image.
 */
export function releaseFallbackImages(
  baseContainer: string,
  target: string,
  version: string,
): string[] {
  if (!RELEASE_TAG_PATTERN.test(version)) return [];
  const branch = version.split(".").slice(0, 2).join(".");
  const prefix = `${baseContainer}:${target.replaceAll("/", "-")}`;
  return [`${prefix}-openwrt-${branch}`, `${prefix}-master`];
}
