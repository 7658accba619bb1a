/** One profile as `make info` lists it. */
export interface MakeInfoProfile {
  title: string;
  /** Package tokens as printed, removals (`-swconfig`) included. */
  packages: string[];
  supportedDevices: string[];
}

/** What the worker needs from the ImageBuilder's `make info` output. */
export interface MakeInfo {
  /** `Current Target`, e.g. `ath79/generic`; null when not printed. */
  target: string | null;
  /** `Current Revision`, e.g. `r24012-d8dd03c46f`; null when not printed. */
  revision: string | null;
  defaultPackages: string[];
  profiles: Record<string, MakeInfoProfile>;
}

const QUOTED_FIELDS = {
  target: /^Current Target: "(.*)"\s*$/,
  revision: /^Current Revision: "(.*)"\s*$/,
} as const;
const DEFAULT_PACKAGES = /^Default Packages:(.*)$/;
// Profile headers are unindented ids ending in a colon; "Available Profiles:"
// and the other top-level lines all carry a space, so they never match.
const PROFILE_HEADER = /^([^\s:]+):\s*$/;
const PROFILE_FIELD = /^\s+(\w+):(.*)$/;
const INDENTED = /^\s+\S/;

function words(text: string): string[] {
  return text.split(/\s+/).filter((word) => word !== "");
}

/**
 * Parses `make info`. Profiles are read line by line rather than searched for
 * by id, so one profile id that ends another (`testprofile` inside
 * `xtestprofile`) cannot pick up the wrong block.
 */
export function parseMakeInfo(text: string): MakeInfo {
  let target: string | null = null;
  let revision: string | null = null;
  let defaultPackages: string[] = [];
  const profiles = new Map<string, MakeInfoProfile>();
  let current: MakeInfoProfile | null = null;
  let awaitingTitle = false;

  for (const line of text.split(/\r?\n/)) {
    const header = PROFILE_HEADER.exec(line);
    if (header?.[1] !== undefined) {
      current = { title: "", packages: [], supportedDevices: [] };
      profiles.set(header[1], current);
      awaitingTitle = true;
      continue;
    }
    if (current !== null && INDENTED.test(line)) {
      // The first indented line is the title whatever it holds, as in the
      // ImageBuilder's own layout; the rest are `Key: value` lines.
      const field = awaitingTitle ? null : PROFILE_FIELD.exec(line);
      if (awaitingTitle) current.title = line.trim();
      else if (field?.[1] === "Packages") current.packages = words(field[2] ?? "");
      else if (field?.[1] === "SupportedDevices") current.supportedDevices = words(field[2] ?? "");
      awaitingTitle = false;
      continue;
    }
    current = null;
    awaitingTitle = false;
    const targetMatch = QUOTED_FIELDS.target.exec(line);
    if (targetMatch?.[1] !== undefined) {
      target = targetMatch[1];
      continue;
    }
    const revisionMatch = QUOTED_FIELDS.revision.exec(line);
    if (revisionMatch?.[1] !== undefined) {
      revision = revisionMatch[1];
      continue;
    }
    const defaults = DEFAULT_PACKAGES.exec(line);
    if (defaults?.[1] !== undefined) defaultPackages = words(defaults[1]);
  }

  return { target, revision, defaultPackages, profiles: Object.fromEntries(profiles) };
}

/**
 * The `validate_revision` step: with a requested version_code the
 * ImageBuilder must be exactly that revision. An empty version_code means the
 * client does not care.
 */
export function checkRevision(info: MakeInfo, versionCode: string): string | null {
  if (versionCode === "" || info.revision === versionCode) return null;
  return `Error: Received incorrect version ${info.revision ?? "unknown"} (requested ${versionCode})`;
}
