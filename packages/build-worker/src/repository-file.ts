import type { BuildRequest } from "@asu/contract";
import type { RepositoryFileKind } from "@asu/imagebuilder-formats";
import { mergeRepositories, rewriteForCache } from "@asu/imagebuilder-formats";

/** The ImageBuilder's repository file per package manager, relative to /builder. */
export const REPOSITORY_FILES: Record<RepositoryFileKind, string> = {
  apk: "repositories",
  opkg: "repositories.conf",
};

/**
 * The new content of the ImageBuilder's repository file, or null when it
 * stays as it is. The cache rewrite applies to the ImageBuilder's own feeds
 * too, so it happens even when the request adds no repository.
 */
export function updatedRepositoryFile(
  kind: RepositoryFileKind,
  existing: string,
  request: Pick<BuildRequest, "repositories" | "repositories_mode">,
  cacheUrl: string | undefined,
): string | null {
  const requested = Object.keys(request.repositories).length > 0;
  const merged = requested
    ? mergeRepositories(kind, existing, request.repositories, request.repositories_mode)
    : existing;
  const content = rewriteForCache(merged, cacheUrl ?? "");
  return content === existing ? null : content;
}
