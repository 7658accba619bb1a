import type { ProfileEntry, ProfilesJson, TargetsJson } from "@asu/openwrt-releases";

/** One device of a target, as the build page lists it. */
export interface DeviceChoice {
  id: string;
  /** Human names, e.g. `TP-Link Archer C7 v5`; a profile can cover several models. */
  titles: string[];
  supported_devices: string[];
  /** Packages the device adds; `-name` removes a default package. */
  device_packages: string[];
}

export interface DeviceList {
  version_code: string;
  default_packages: string[];
  profiles: DeviceChoice[];
}

/** `{title}` as written, else vendor, model and variant, as the Firmware Selector names devices. */
function titleText(title: Record<string, string>): string {
  if (title.title) return title.title;
  return [title.vendor, title.model, title.variant].filter(Boolean).join(" ");
}

function titlesOf(id: string, entry: ProfileEntry): string[] {
  const titles = (entry.titles ?? []).map(titleText).filter((text) => text !== "");
  return titles.length > 0 ? titles : [id];
}

/** Devices sorted by name, the way people look for theirs. */
export function deviceList(metadata: ProfilesJson): DeviceList {
  const profiles = Object.entries(metadata.profiles ?? {}).map(([id, entry]) => ({
    id,
    titles: titlesOf(id, entry),
    supported_devices: [...(entry.supported_devices ?? [])],
    device_packages: [...(entry.device_packages ?? [])],
  }));
  const collator = new Intl.Collator("en", { sensitivity: "base", numeric: true });
  profiles.sort((a, b) => collator.compare(a.titles[0] ?? a.id, b.titles[0] ?? b.id));
  return {
    version_code: typeof metadata.version_code === "string" ? metadata.version_code : "",
    default_packages: [...(metadata.default_packages ?? [])],
    profiles,
  };
}

/** Targets in name order, for a select box. */
export function targetList(targets: TargetsJson): string[] {
  return Object.keys(targets).sort();
}
