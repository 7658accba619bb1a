import type { BuildResult } from "@asu/queue";

/** The image fields clients read (LuCI, owut, the Firmware Selector). */
export const IMAGE_FIELDS = ["name", "type", "filesystem", "sha256", "sha256_unsigned"] as const;

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The entry of the built profile in the ImageBuilder's profiles.json, or undefined. */
export function builtProfile(profilesJson: unknown, profile: string): JsonObject | undefined {
  if (!isObject(profilesJson) || !isObject(profilesJson.profiles)) return undefined;
  if (!Object.hasOwn(profilesJson.profiles, profile)) return undefined;
  const entry = profilesJson.profiles[profile];
  return isObject(entry) ? entry : undefined;
}

/**
 * `source_date_epoch` as the Python server prints it
 * (`%Y-%m-%dT%H:%M:%S.%fZ`, always UTC here): `2021-02-01T00:28:37.000000Z`.
 */
export function buildAt(sourceDateEpoch: unknown): string {
  const seconds = Number.parseInt(String(sourceDateEpoch ?? 0), 10);
  const date = new Date((Number.isFinite(seconds) ? seconds : 0) * 1000);
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

function imageEntry(image: unknown): JsonObject {
  const entry: JsonObject = {};
  if (!isObject(image)) return entry;
  for (const field of IMAGE_FIELDS) {
    if (Object.hasOwn(image, field)) entry[field] = image[field];
  }
  return entry;
}

export interface ResultInput {
  /** The parsed profiles.json of BIN_DIR. */
  profilesJson: JsonObject;
  profile: string;
  requestHash: string;
  manifest: Record<string, string>;
  buildCmd: readonly string[];
  buildCmdPackages: readonly string[];
}

/**
 * The 200 answer's result: profiles.json's top level without `profiles`,
 * then the built profile's entry over it, then what the server adds.
 * Throws when the profile is missing: check with builtProfile() first.
 */
export function composeBuildResult(input: ResultInput): BuildResult {
  const entry = builtProfile(input.profilesJson, input.profile);
  if (!entry) throw new Error(`profile ${input.profile} is not in profiles.json`);
  const { profiles: _profiles, ...topLevel } = input.profilesJson;
  const images = Array.isArray(entry.images) ? entry.images.map(imageEntry) : [];
  return {
    ...topLevel,
    manifest: input.manifest,
    ...entry,
    images,
    id: input.profile,
    bin_dir: input.requestHash,
    build_cmd: [...input.buildCmd],
    build_cmd_packages: [...input.buildCmdPackages],
    build_at: buildAt(topLevel.source_date_epoch),
  };
}
