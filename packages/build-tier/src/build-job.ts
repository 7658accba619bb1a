import { badRequest } from "@asu/contract";
import { imagebuilderImage, isSnapshot, releaseFallbackImages } from "@asu/openwrt-releases";
import { packagesForBuild } from "@asu/package-rules";
import { type BuildJobData, resultTtl, type TtlSettings } from "@asu/queue";
import type { OpenwrtCatalog, ValidatedRequest } from "@asu/upstream";

export interface BuildJobSettings extends TtlSettings {
  base_container: string;
  build_failure_ttl: number;
}

/**
 * The job a validated request makes: the server-side package rules applied
 * once, its image and snapshot fallbacks, TTLs. What a POST enqueues and a
 * release-day prebuild enqueues alike, so both have one request hash.
 */
export function buildJobData(
  validated: Pick<ValidatedRequest, "request" | "metadata">,
  hash: string,
  deps: {
    catalog: Pick<OpenwrtCatalog, "versionPath">;
    settings: BuildJobSettings;
    skipPackageResolution: boolean;
    requestId?: string;
  },
): BuildJobData {
  const { request } = validated;
  const { settings } = deps;
  const packages = packagesForBuild(request, { skipPackageResolution: deps.skipPackageResolution });
  const image = imagebuilderImage(settings.base_container, request.target, request.version);
  const versionPath = deps.catalog.versionPath(request.version);
  if (!image || versionPath === undefined) {
    throw badRequest(`Unsupported version: ${request.version}`);
  }
  const fallbackImages = releaseFallbackImages(
    settings.base_container,
    request.target,
    request.version,
  );
  const upstreamVersionCode = validated.metadata.version_code;
  return {
    request,
    requestHash: hash,
    packages,
    image,
    ...(fallbackImages.length > 0 ? { fallbackImages } : {}),
    ...(upstreamVersionCode ? { upstreamVersionCode } : {}),
    versionPath,
    snapshot: isSnapshot(request.version),
    resultTtl: resultTtl(request, settings),
    failureTtl: settings.build_failure_ttl,
    ...(deps.requestId ? { requestId: deps.requestId } : {}),
  };
}
