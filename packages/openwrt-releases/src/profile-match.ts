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
 * Finds the ImageBuilder profile a device means. Devices report their board
 * name (`tplink,archer-c7-v5`), already turned into `tplink_archer-c7-v5` by
 * the schema, so supported_devices entries are compared the same way.
 * Targets whose only profile is `generic` (x86, armsr) build it for any name.
 * A board name is looked up in an index of the target's devices: scanning
 * them took 60-75 µs on a target of 270 profiles, for every request whose
 * name is not a profile id (renamed devices, x86 boards, typos).
 */
export function matchProfile(profiles: Profiles, requested: string): string | undefined {
  if (Object.hasOwn(profiles, requested)) return requested;
  const listed = deviceIndex(profiles).get(requested);
  if (listed !== undefined) return listed;
  // Looked at only when there is a generic: listing a target's ids is a miss's dearest part.
  if (Object.hasOwn(profiles, "generic") && Object.keys(profiles).length === 1) return "generic";
  return undefined;
}
