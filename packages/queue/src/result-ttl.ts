import type { BuildRequest } from "@asu/contract";

export interface TtlSettings {
  build_ttl: number;
  build_ttl_unversioned: number;
  build_defaults_ttl: number;
}

/**
 * How long a result lives: a build with a first-boot script is personal and
 * short-lived, one pinned to exact versions is reproducible and kept longest.
 */
export function resultTtl(
  request: Pick<BuildRequest, "defaults" | "packages_versions">,
  settings: TtlSettings,
): number {
  if (request.defaults) return settings.build_defaults_ttl;
  if (Object.keys(request.packages_versions).length > 0) return settings.build_ttl;
  return settings.build_ttl_unversioned;
}
