import { type BuildRequest, badRequest, isRepositoryAllowed } from "@asu/contract";
import { repositoryKeyProblem } from "@asu/imagebuilder-formats";
import { type Branch, branchOf, type ProfilesJson } from "@asu/openwrt-releases";
import type { OpenwrtCatalog } from "./openwrt-catalog.ts";

export interface ValidationSettings {
  allow_defaults: boolean;
  repository_allow_list: readonly string[];
}

export interface ValidatedRequest<T extends BuildRequest = BuildRequest> {
  /** The request as it will be built: `profile` is the matched ImageBuilder profile id. */
  request: T;
  branch: Branch;
  architecture: string;
  metadata: ProfilesJson;
}

const SUPPORTED_DISTROS = ["openwrt"];

const unsupportedTarget = (target: string) =>
  `Unsupported target: ${target}. The requested target was either dropped, is still being built or is not supported by the selected version. Please check the forums or try again later.`;

const unsupportedProfile = (profile: string) =>
  `Unsupported profile: ${profile}. The requested profile was either dropped or never existed. Please check the forums for more information.`;

/**
 * The contract's validation, in its order, shared by both tiers: cheap local
 * checks first, then upstream's versions, targets and profiles.
 * @throws ApiError 400 with the contract's message; UpstreamUnavailableError.
 */
export async function validateBuildRequest<T extends BuildRequest>(
  request: T,
  settings: ValidationSettings,
  catalog: OpenwrtCatalog,
): Promise<ValidatedRequest<T>> {
  if (request.defaults && !settings.allow_defaults) {
    throw badRequest("Handling `defaults` not enabled on server");
  }
  for (const url of Object.values(request.repositories)) {
    if (!isRepositoryAllowed(url, settings.repository_allow_list)) {
      throw badRequest(`Repository not allowed: ${url}`);
    }
  }
  request.repository_keys.forEach((key, index) => {
    const problem = repositoryKeyProblem(key);
    if (problem) throw badRequest(`Invalid repository key ${index + 1}: ${problem}`);
  });
  if (!SUPPORTED_DISTROS.includes(request.distro)) {
    throw badRequest(`Unsupported distro: ${request.distro}`);
  }
  const branchName = branchOf(request.version, catalog.branches);
  const branch = catalog.branches.find((entry) => entry.name === branchName && entry.enabled);
  if (!branch) throw badRequest(`Unsupported branch: ${request.version}`);

  if (!(await catalog.hasVersion(request.version))) {
    throw badRequest(`Unsupported version: ${request.version}`);
  }
  const architecture = await catalog.targetArchitecture(request.version, request.target);
  if (architecture === undefined) throw badRequest(unsupportedTarget(request.target));

  const match = await catalog.findProfile(request.version, request.target, request.profile);
  if (!match) throw badRequest(unsupportedProfile(request.profile));

  return {
    request: { ...request, profile: match.id },
    branch,
    architecture,
    metadata: match.metadata,
  };
}
