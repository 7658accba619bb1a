import { type Branch, branchOf, VERSION_PLACEHOLDER } from "@asu/openwrt-releases";

/** Where a version's files live upstream: `releases/24.10.0` for version `24.10.0`. */
export interface VersionLocation {
  /** The branch path with the version filled in, as it appears in the URL. */
  path: string;
  version: string;
  branch: Branch;
}

/** What a `/json/v1/…` path below the fixed files asks for. */
export type JsonFileRequest =
  | { kind: "target-index"; location: VersionLocation; target: string }
  | { kind: "profile"; location: VersionLocation; target: string; profile: string }
  | { kind: "feed-index"; location: VersionLocation; arch: string };

const FEED_INDEX_SUFFIX = "-index.json";
const JSON_SUFFIX = ".json";

/**
 * Segments come from the URL and end up in upstream paths, so anything that
 * could step out of the version's tree names nothing here (the metadata
 * client would throw on them, which must not become a 500).
 */
function isPlainSegment(segment: string): boolean {
  return segment !== "" && segment !== "." && segment !== ".." && !/[/\\\0]/.test(segment);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** One pattern per template segment; `{version}` captures the version. */
function templatePatterns(template: string): RegExp[] {
  return template.split("/").map((segment) => {
    const parts = segment.split(VERSION_PLACEHOLDER).map(escapeRegExp);
    return new RegExp(`^${parts.join("([^/]+)")}$`);
  });
}

/**
 * Finds the branch whose path template the leading segments spell, with a
 * version that belongs to that branch (`releases/24.10.0` is 24.10's, while
 * `releases/foo` is nobody's). A template without `{version}` (`snapshots`)
 * stands for the branch itself, whose name is the version.
 */
function matchLocation(
  segments: readonly string[],
  branches: readonly Branch[],
): { location: VersionLocation; used: number } | undefined {
  for (const branch of branches) {
    const patterns = templatePatterns(branch.path);
    if (patterns.length > segments.length) continue;
    let version: string | undefined;
    const fits = patterns.every((pattern, index) => {
      const match = pattern.exec(segments[index] ?? "");
      if (!match) return false;
      for (const captured of match.slice(1)) {
        if (version !== undefined && captured !== version) return false;
        version = captured;
      }
      return true;
    });
    if (!fits) continue;
    const resolved = version ?? branch.name;
    if (branchOf(resolved, branches) !== branch.name) continue;
    return {
      location: {
        path: segments.slice(0, patterns.length).join("/"),
        version: resolved,
        branch,
      },
      used: patterns.length,
    };
  }
  return undefined;
}

/**
 * Reads the part of a `/json/v1/` URL after that prefix (segments already
 * percent-decoded): `{branch path}/targets/{t}/{s}/index.json`,
 * `{branch path}/targets/{t}/{s}/{profile}.json` or
 * `{branch path}/packages/{arch}-index.json`. Undefined for anything else.
 */
export function parseJsonFilePath(
  segments: readonly string[],
  branches: readonly Branch[],
): JsonFileRequest | undefined {
  if (!segments.every(isPlainSegment)) return undefined;
  const found = matchLocation(segments, branches);
  if (!found) return undefined;
  const { location } = found;
  const rest = segments.slice(found.used);

  const [area, first, second, file, ...extra] = rest;
  if (area === "targets" && first && second && file && extra.length === 0) {
    const target = `${first}/${second}`;
    if (file === "index.json") return { kind: "target-index", location, target };
    if (file.endsWith(JSON_SUFFIX) && file.length > JSON_SUFFIX.length) {
      return { kind: "profile", location, target, profile: file.slice(0, -JSON_SUFFIX.length) };
    }
    return undefined;
  }
  if (
    area === "packages" &&
    first?.endsWith(FEED_INDEX_SUFFIX) &&
    first.length > FEED_INDEX_SUFFIX.length &&
    rest.length === 2
  ) {
    return { kind: "feed-index", location, arch: first.slice(0, -FEED_INDEX_SUFFIX.length) };
  }
  return undefined;
}
