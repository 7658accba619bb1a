import { hash } from "node:crypto";
import { compareCodePoints, pythonJsonDumps, pythonRepr } from "@asu/python-compat";
import type { BuildRequest } from "./build-request.ts";

/** The fields of a parsed BuildRequest that name a build. */
export type HashedRequest = Pick<
  BuildRequest,
  | "distro"
  | "version"
  | "version_code"
  | "target"
  | "profile"
  | "packages"
  | "packages_versions"
  | "diff_packages"
  | "filesystem"
  | "defaults"
  | "rootfs_size_mb"
  | "repository_keys"
  | "repositories"
  | "repositories_mode"
>;

export interface RequestHashOptions {
  /** The build runs the packages exactly as sent (`?skip_package_resolution=true`). */
  skipPackageResolution?: boolean;
}

// Same body, different build: a prepared request must never collide with the
// legacy flow that resolves packages on the server.
const SKIP_RESOLUTION_SUFFIX = "|skip_package_resolution";

/**
 * Hex sha256 of the UTF-8 bytes of `text`. The one-shot hash() makes no Hash
 * object: a request hash takes four of these, on every prepare and build.
 */
export function sha256Hex(text: string): string {
  return hash("sha256", text, "hex");
}

/** H(packages): the names without a leading `+`, deduplicated, in Python's str order, space-joined. */
export function packagesHash(packages: Iterable<string>): string {
  const names = new Set<string>();
  for (const name of packages) names.add(name.startsWith("+") ? name.slice(1) : name);
  return sha256Hex([...names].sort(compareCodePoints).join(" "));
}

// Most requests pin nothing and carry no defaults: those parts are constants.
const NO_PINS_HASH = sha256Hex("{}");
const NO_DEFAULTS_HASH = sha256Hex("");

/** sha256 of `json.dumps(packages_versions, sort_keys=True)`, its part of the request hash. */
export function packagesVersionsHash(packagesVersions: Record<string, string>): string {
  if (Object.keys(packagesVersions).length === 0) return NO_PINS_HASH;
  return sha256Hex(pythonJsonDumps(packagesVersions, { sortKeys: true }));
}

/** The ImageBuilder's EXTRA_IMAGE_NAME: the first 12 hex digits of H(manifest names). */
export function manifestHash(manifest: Record<string, string>): string {
  return packagesHash(Object.keys(manifest)).slice(0, 12);
}

/**
 * The package names a request asks for, before any rule. Legacy requests
 * follow the Python server: non-empty `packages_versions` keys replace
 * `packages`. A prepared request (skip_package_resolution) builds `packages`
 * and pins the versions named in `packages_versions`: resolution may rename
 * or add packages that have no pinned version, and they must still be built.
 */
export function requestedPackages(
  req: Pick<HashedRequest, "packages" | "packages_versions">,
  options: RequestHashOptions = {},
): string[] {
  const pinned = Object.keys(req.packages_versions);
  if (!options.skipPackageResolution) return pinned.length > 0 ? pinned : req.packages;
  const listed = new Set(req.packages);
  return [...req.packages, ...pinned.filter((name) => !listed.has(name))];
}

/** The string whose sha256 is the request hash, in the Python server's field order. */
export function requestHashInput(req: HashedRequest, options: RequestHashOptions = {}): string {
  const parts = [
    req.distro,
    req.version,
    req.version_code,
    req.target,
    req.profile.replaceAll(",", "_"),
    packagesHash(requestedPackages(req, options)),
    packagesVersionsHash(req.packages_versions),
    pythonRepr(req.diff_packages),
    req.filesystem ?? "",
    req.defaults ? sha256Hex(req.defaults) : NO_DEFAULTS_HASH,
    pythonRepr(req.rootfs_size_mb),
    pythonRepr(req.repository_keys),
    pythonRepr(req.repositories),
    req.repositories_mode,
  ];
  return parts.join("") + (options.skipPackageResolution ? SKIP_RESOLUTION_SUFFIX : "");
}

/** `request_hash`: names a build everywhere and equals the Python server's value. */
export function requestHash(req: HashedRequest, options: RequestHashOptions = {}): string {
  return sha256Hex(requestHashInput(req, options));
}
