import type { ProfileEntry } from "./upstream-metadata.ts";

/**
 * Finds the ImageBuilder profile a device means. Devices report their board
 * name (`tplink,archer-c7-v5`), already turned into `tplink_archer-c7-v5` by
 * the schema, so supported_devices entries are compared the same way.
 * Targets whose only profile is `generic` (x86, armsr) build it for any name.
 */
export function matchProfile(
  profiles: Record<string, ProfileEntry>,
  requested: string,
): string | undefined {
  if (Object.hasOwn(profiles, requested)) return requested;
  for (const [id, profile] of Object.entries(profiles)) {
    const devices = profile.supported_devices ?? [];
    if (devices.some((device) => device.replaceAll(",", "_") === requested)) return id;
  }
  const ids = Object.keys(profiles);
  if (ids.length === 1 && ids[0] === "generic") return "generic";
  return undefined;
}
