import { parseApkIndex } from "./apk-index.ts";
import { abiStrippedName, opkgStanzas } from "./opkg-packages.ts";

/**
 * What one package index offers the ImageBuilder: the names its package
 * manager installs. Built from an opkg `Packages` file or an apk v2
 * `index.json`, both tiers check requests against it.
 */
export interface IndexNames {
  /** Package names as clients know them (ABI suffix stripped) → version. */
  versions: ReadonlyMap<string, string>;
  /**
   * Other names the package manager accepts for a package → the package:
   * the ABI-suffixed form (`libubox20240329`) and opkg `Provides:` aliases.
   */
  aliases: ReadonlyMap<string, string>;
  /**
   * apk's index.json lists no provides, so an absent name that another
   * package may provide cannot be called missing from it.
   */
  listsProvides: boolean;
}

/** `Provides: dnsmasq, libubus (=2024.10.20), foo=1.0` → the names alone. */
function providedNames(field: string | undefined): string[] {
  if (field === undefined) return [];
  return field
    .split(",")
    .map((entry) => entry.trim().split(/[\s(=<>]/, 1)[0] ?? "")
    .filter((name) => name !== "");
}

/** The names an opkg `Packages` index installs, aliases included. */
export function opkgIndexNames(text: string): IndexNames {
  const versions = new Map<string, string>();
  const aliases = new Map<string, string>();
  for (const fields of opkgStanzas(text)) {
    const name = fields.get("Package");
    const version = fields.get("Version");
    if (name === undefined || name === "" || version === undefined) continue;
    const stripped = abiStrippedName(name, fields.get("ABIVersion"));
    const known = stripped ?? name;
    versions.set(known, version);
    if (stripped !== undefined) aliases.set(name, known);
    for (const alias of providedNames(fields.get("Provides"))) {
      if (alias !== known && !aliases.has(alias)) aliases.set(alias, known);
    }
  }
  return { versions, aliases, listsProvides: true };
}

/** The names of an apk v2 `index.json`; null when it is not one. */
export function apkIndexNames(json: unknown): IndexNames | null {
  const index = parseApkIndex(json);
  if (index === null) return null;
  return {
    versions: new Map(Object.entries(index.packages)),
    aliases: new Map(),
    listsProvides: false,
  };
}
