import {
  badRequest,
  type PrepareRequest,
  type RequestLimits,
  requestedPackages,
  requestHash,
} from "@asu/contract";
import { type Branch, findBranch, isSnapshot } from "@asu/openwrt-releases";
import {
  type ChangeRecord,
  type PackageProblem,
  packageProblems,
  resolvePackages,
} from "@asu/package-rules";
import { keysInOrder, withKeyOrder } from "@asu/python-compat";
import {
  type OpenwrtCatalog,
  type PackageIndexes,
  type ValidatedRequest,
  type ValidationSettings,
  validateBuildRequest,
} from "@asu/upstream";

export interface PrepareDeps {
  catalog: OpenwrtCatalog;
  settings: ValidationSettings & RequestLimits;
  /** The package indexes: with them the answer lists `problems` (PACKAGE_CHECK). */
  indexes?: PackageIndexes;
}

export interface PreparedAnswer {
  status: "prepared";
  original_packages: string[];
  resolved_packages: string[];
  changes: ChangeRecord[];
  problems: PackageProblem[];
  prepared_request: Omit<PrepareRequest, "from_version">;
  request_hash: string;
  branch: string;
}

/**
 * What is wrong with the packages that will be built, checked against the
 * indexes; `from_version`'s indexes are read only when something is missing,
 * to tell a package that was removed from one that never existed.
 */
async function findProblems(
  validated: ValidatedRequest,
  packages: readonly string[],
  fromVersion: string | null | undefined,
  deps: PrepareDeps,
): Promise<PackageProblem[]> {
  const { indexes, catalog } = deps;
  if (!indexes) return [];
  const { request } = validated;
  const search = await indexes.search({
    version: request.version,
    target: request.target,
    architecture: validated.architecture,
    metadata: validated.metadata,
    repositories: request.repositories,
  });
  const input = {
    packages,
    pins: isSnapshot(request.version) ? {} : request.packages_versions,
    version: request.version,
    search,
  };
  const problems = packageProblems(input);
  if (!fromVersion || !problems.some((problem) => problem.reason === "not_found")) {
    return problems;
  }
  try {
    const [architecture, metadata] = await Promise.all([
      catalog.targetArchitecture(fromVersion, request.target),
      catalog.profiles(fromVersion, request.target),
    ]);
    if (architecture === undefined || metadata === undefined) return problems;
    const from = await indexes.search({
      version: fromVersion,
      target: request.target,
      architecture,
      metadata,
    });
    return packageProblems({ ...input, from: { version: fromVersion, search: from } });
  } catch {
    // The old version's metadata only sharpens the reason; without it the problems stand.
    return problems;
  }
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
  const validated = await validateBuildRequest(buildRequest, deps.settings, deps.catalog);
  const { request, branch } = validated;
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
  const problems = await findProblems(
    { ...validated, request: preparedRequest },
    resolution.packages,
    fromVersion,
    deps,
  );
  return {
    status: "prepared",
    original_packages: buildRequest.packages,
    resolved_packages: resolution.packages,
    changes: resolution.changes,
    problems,
    prepared_request: preparedRequest,
    request_hash: requestHash(preparedRequest, { skipPackageResolution: true }),
    branch: branch.name,
  };
}
