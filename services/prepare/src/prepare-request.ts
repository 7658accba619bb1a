import {
  type Branch,
  badRequest,
  type ChangeRecord,
  findBranch,
  keysInOrder,
  type PrepareRequest,
  type RequestLimits,
  requestedPackages,
  requestHash,
  resolvePackages,
  withKeyOrder,
} from "@asu/core";
import { type OpenwrtCatalog, type ValidationSettings, validateBuildRequest } from "@asu/upstream";

export interface PrepareDeps {
  catalog: OpenwrtCatalog;
  settings: ValidationSettings & RequestLimits;
}

export interface PreparedAnswer {
  status: "prepared";
  original_packages: string[];
  resolved_packages: string[];
  changes: ChangeRecord[];
  prepared_request: Omit<PrepareRequest, "from_version">;
  request_hash: string;
  branch: string;
}

function enabledBranch(version: string, branches: readonly Branch[]) {
  const branch = findBranch(version, branches);
  return branch?.enabled ? branch : undefined;
}

/**
 * Validates a request as /build would and resolves its packages, returning
 * the request that builds exactly the resolved list. Its hash is the one the
 * build tier gives the same body under `?skip_package_resolution=true`.
 */
export async function prepareRequest(
  parsed: PrepareRequest,
  deps: PrepareDeps,
): Promise<PreparedAnswer> {
  const { from_version: fromVersion, ...buildRequest } = parsed;
  const { request, branch } = await validateBuildRequest(buildRequest, deps.settings, deps.catalog);
  if (fromVersion && !enabledBranch(fromVersion, deps.catalog.branches)) {
    throw badRequest(`Unsupported from_version: ${fromVersion}`);
  }

  const resolution = resolvePackages({
    version: request.version,
    target: request.target,
    profile: request.profile,
    packages: requestedPackages(request),
    fromVersion: fromVersion ?? null,
    branches: deps.catalog.branches,
  });
  const resolved = new Set(resolution.packages);
  const pinned = keysInOrder(request.packages_versions).filter((name) => resolved.has(name));
  const preparedRequest = {
    ...request,
    packages: resolution.packages,
    // Pins follow the packages that survive; renamed or added ones are unpinned.
    packages_versions: withKeyOrder(
      Object.fromEntries(pinned.map((name) => [name, request.packages_versions[name] ?? ""])),
      pinned,
    ),
  };
  return {
    status: "prepared",
    original_packages: buildRequest.packages,
    resolved_packages: resolution.packages,
    changes: resolution.changes,
    prepared_request: preparedRequest,
    request_hash: requestHash(preparedRequest, { skipPackageResolution: true }),
    branch: branch.name,
  };
}
