import { parseApkIndex } from "./apk-index.ts";

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

// Same stanza reading as parseOpkgPackages: blank lines separate stanzas and
// indented lines continue a field without carrying one of their own.
const STANZA_SEPARATOR = /\n[ \t]*\n/;
const FIELD = /^([^\s:]+):[ \t]*(.*)$/;

function stanzaFields(stanza: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of stanza.split("\n")) {
    const field = FIELD.exec(line);
    if (field?.[1] !== undefined && !fields.has(field[1])) {
      fields.set(field[1], (field[2] ?? "").trimEnd());
    }
  }
  return fields;
}

/** `Provides: dnsmasq, libubus (=2024.10.20), foo=1.0` → the names alone. */
function providedNames(field: string | undefined): string[] {
  if (field === undefined) return [];
  return field
    .split(",")
    .map((entry) => entry.trim().split(/[\s(=<>]/, 1)[0] ?? "")
    .filter((name) => name !== "");
}

/** The name without its ABIVersion suffix, as STRIP_ABI shows it; undefined when there is none. */
function strippedName(name: string, abiVersion: string | undefined): string | undefined {
  if (abiVersion === undefined || abiVersion === "" || abiVersion === name) return undefined;
  return name.endsWith(abiVersion) ? name.slice(0, -abiVersion.length) : undefined;
}

/** The names an opkg `Packages` index installs, aliases included. */
export function opkgIndexNames(text: string): IndexNames {
  const versions = new Map<string, string>();
  const aliases = new Map<string, string>();
  for (const stanza of text.replace(/\r\n?/g, "\n").split(STANZA_SEPARATOR)) {
    const fields = stanzaFields(stanza);
    const name = fields.get("Package");
    const version = fields.get("Version");
    if (name === undefined || name === "" || version === undefined) continue;
    const stripped = strippedName(name, fields.get("ABIVersion"));
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
