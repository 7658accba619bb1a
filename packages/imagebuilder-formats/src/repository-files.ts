import { keysInOrder } from "@asu/python-compat";

export type RepositoryFileKind = "apk" | "opkg";

import type { RepositoriesMode } from "@asu/contract";

// The ImageBuilder's own feed and signature checking must survive any merge.
const REQUIRED_OPKG_LINES = ["src imagebuilder file:packages", "option check_signature"] as const;
const OPKG_FEED_LINE = /^src(?:\/gz)?[ \t]+(\S+)/;

function requestedLine(kind: RepositoryFileKind, name: string, url: string): string {
  return kind === "apk" ? url : `src/gz ${name} ${url}`;
}

/**
 * Whether an existing line gives way to the requested repositories: opkg
 * feeds are keyed by name, so a requested name replaces the old feed of that
 * name; apk lists bare URLs, so only the same URL is a duplicate.
 */
function isSuperseded(
  kind: RepositoryFileKind,
  line: string,
  repositories: Record<string, string>,
): boolean {
  const trimmed = line.trim();
  if (kind === "apk") return Object.values(repositories).includes(trimmed);
  const feed = OPKG_FEED_LINE.exec(trimmed);
  return feed?.[1] !== undefined && Object.hasOwn(repositories, feed[1]);
}

/**
 * The ImageBuilder's repository file with the requested repositories in it:
 * `repositories` (apk, one URL a line) or `repositories.conf` (opkg,
 * `src/gz {name} {url}`). `append` keeps the existing feeds, `replace`
 * starts from nothing. Requested repositories follow in the client's order,
 * as the Python server writes them.
 */
export function mergeRepositories(
  kind: RepositoryFileKind,
  existing: string,
  repositories: Record<string, string>,
  mode: RepositoriesMode,
): string {
  const kept = (mode === "append" ? existing.split(/\r?\n/) : []).filter(
    (line) => line.trim() !== "" && !isSuperseded(kind, line, repositories),
  );
  const requested = keysInOrder(repositories).map((name) =>
    requestedLine(kind, name, repositories[name] ?? ""),
  );
  const lines = [...kept, ...requested];
  if (kind === "opkg") {
    for (const required of REQUIRED_OPKG_LINES) {
      // A commented-out directive does not count as present.
      if (!lines.some((line) => line.trim().startsWith(required))) lines.push(required);
    }
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Sends the ImageBuilder's downloads through a caching proxy:
 * `https://host/path` becomes `{cacheUrl}/host/path`. No cache URL, no change.
 */
export function rewriteForCache(content: string, cacheUrl: string): string {
  if (cacheUrl === "") return content;
  const prefix = `${cacheUrl.replace(/\/+$/, "")}/`;
  // A replacer function, so `$&` and friends in the URL stay literal.
  return content.replaceAll("https://", () => prefix);
}
