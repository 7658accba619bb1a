import type { ProfileEntry } from "./upstream-metadata.ts";

type Profiles = Readonly<Record<string, ProfileEntry>>;

/**
 * Board name (`,` read as `_`) → the first profile that lists it, per
 * profiles object. Upstream metadata is handed out as one frozen object
 * until upstream changes, so each version of a profiles.json is indexed
 * once; the index goes with its object.
 */
const deviceIndexes = new WeakMap<Profiles, ReadonlyMap<string, string>>();

function deviceIndex(profiles: Profiles): ReadonlyMap<string, string> {
  let index = deviceIndexes.get(profiles);
  if (index === undefined) {
    const devices = new Map<string, string>();
    for (const [id, profile] of Object.entries(profiles)) {
      for (const device of profile.supported_devices ?? []) {
        const name = device.replaceAll(",", "_");
        // The first profile in the file's order wins, as a scan would find it.
        if (!devices.has(name)) devices.set(name, id);
      }
    }
    index = devices;
    deviceIndexes.set(profiles, index);
  }
  return index;
}

/**
 * Finds the ImageBuilder profile a device means, comparing board names as the
 * schema normalises them (`tplink_archer-c7-v5`); `generic`-only targets take
 * any name. Names are looked up in an index: a scan cost every renamed device.
 */
export function matchProfile(profiles: Profiles, requested: string): string | undefined {
  if (Object.hasOwn(profiles, requested)) return requested;
  const listed = deviceIndex(profiles).get(requested);
  if (listed !== undefined) return listed;
  // Looked at only when there is a generic: listing a target's ids is a miss's dearest part.
  if (Object.hasOwn(profiles, "generic") && Object.keys(profiles).length === 1) return "generic";
  return undefined;
}
