import type { BuildRequest } from "@asu/contract";
import { manifestHash } from "@asu/contract";

/** Where the request's defaults go; handed to `make image` as FILES. */
export const FILES_DIR = "/builder/asu-files";
/** The first-boot script, relative to /builder. */
export const DEFAULTS_PATH = "asu-files/etc/uci-defaults/99-asu-defaults";

export const SETUP_COMMAND = ["sh", "setup.sh"] as const;
export const INFO_COMMAND = ["make", "info"] as const;

/** Environment of setup.sh: which ImageBuilder to fetch and from where. */
export function setupEnvironment(
  target: string,
  versionPath: string,
  upstreamUrl?: string,
): Record<string, string> {
  const env: Record<string, string> = { TARGET: target, VERSION_PATH: versionPath };
  if (upstreamUrl) env.UPSTREAM_URL = upstreamUrl;
  return env;
}

export function manifestCommand(profile: string, packages: readonly string[]): string[] {
  return [
    "make",
    "manifest",
    `PROFILE=${profile}`,
    `PACKAGES=${packages.join(" ")}`,
    "STRIP_ABI=1",
  ];
}

export interface ImageCommandInput {
  request: Pick<BuildRequest, "profile" | "defaults" | "rootfs_size_mb" | "filesystem">;
  packages: readonly string[];
  manifest: Record<string, string>;
  requestHash: string;
}

/** The BIN_DIR of a build inside its container, a tmpfs. */
export function binDir(requestHash: string): string {
  return `/builder/${requestHash}`;
}

/**
 * `make image` as the contract spells it; EXTRA_IMAGE_NAME names the
 * package set, so image files of different selections never share a name.
 */
export function imageCommand(input: ImageCommandInput): string[] {
  const { request } = input;
  const command = [
    "make",
    "image",
    `PROFILE=${request.profile}`,
    `PACKAGES=${input.packages.join(" ")}`,
    `EXTRA_IMAGE_NAME=${manifestHash(input.manifest)}`,
    `BIN_DIR=${binDir(input.requestHash)}`,
  ];
  if (request.defaults) command.push(`FILES=${FILES_DIR}`);
  if (request.rootfs_size_mb) command.push(`ROOTFS_PARTSIZE=${request.rootfs_size_mb}`);
  if (request.filesystem) command.push(`ROOTFS_FILESYSTEM=${request.filesystem}`);
  return command;
}

/** Exit codes of the merged step when the worker's answer stopped it before `make image`. */
export const STOPPED_BEFORE_IMAGE = [97, 98] as const;

const EXTRA_IMAGE_NAME = "EXTRA_IMAGE_NAME=";

/** One word for sh, whatever it holds. */
function shellWord(argument: string): string {
  return `'${argument.replaceAll("'", `'\\''`)}'`;
}

/**
 * `make manifest` and `make image` in one exec: after the manifest and `marker`
 * the script waits for one stdin line, the EXTRA_IMAGE_NAME once the worker
 * checked the manifest; an empty line or anything but hex digits stops it.
 */
export function manifestThenImageCommand(
  manifest: readonly string[],
  image: readonly string[],
  marker: string,
): string[] {
  const imageWords = image.map((argument) =>
    argument.startsWith(EXTRA_IMAGE_NAME) ? `"${EXTRA_IMAGE_NAME}$name"` : shellWord(argument),
  );
  const script = [
    `${manifest.map(shellWord).join(" ")} || exit $?`,
    `printf '\\n%s\\n' ${shellWord(marker)}`,
    `printf '\\n%s\\n' ${shellWord(marker)} >&2`,
    `IFS= read -r name || exit ${STOPPED_BEFORE_IMAGE[0]}`,
    `case $name in ''|*[!0-9a-f]*) exit ${STOPPED_BEFORE_IMAGE[1]} ;; esac`,
    `exec ${imageWords.join(" ")}`,
  ].join("\n");
  return ["sh", "-c", script];
}
