/** A package index as the JSON endpoints serve it: name → version. */
export interface PackageIndex {
  architecture: string;
  packages: Record<string, string>;
}

// Stanzas are separated by blank lines; a line starting with white space
// continues the field above it and never carries a field of its own.
const STANZA_SEPARATOR = /\n[ \t]*\n/;
const FIELD = /^([^\s:]+):[ \t]*(.*)$/;

function stanzaFields(stanza: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of stanza.split("\n")) {
    const field = FIELD.exec(line);
    // The first occurrence wins, as in RFC 822 header lookups.
    if (field?.[1] !== undefined && !fields.has(field[1])) {
      fields.set(field[1], (field[2] ?? "").trimEnd());
    }
  }
  return fields;
}

/** The fields of each stanza of an opkg `Packages` index, first occurrence of a field winning. */
export function opkgStanzas(text: string): Map<string, string>[] {
  return text.replace(/\r\n?/g, "\n").split(STANZA_SEPARATOR).map(stanzaFields);
}

/**
 * The name clients know a package by: opkg indexes carry ABI-versioned names
 * (`libubox20230523`, ABIVersion `20230523`) and the JSON index drops the
 * suffix, like STRIP_ABI does for manifests. Undefined when there is no suffix.
 */
export function abiStrippedName(name: string, abiVersion: string | undefined): string | undefined {
  if (abiVersion === undefined || abiVersion === "" || abiVersion === name) return undefined;
  return name.endsWith(abiVersion) ? name.slice(0, -abiVersion.length) : undefined;
}

/**
 * Parses an opkg `Packages` index. The architecture is the first one that is
 * not `all`; a later stanza for the same name replaces an earlier one.
 */
export function parseOpkgPackages(text: string): PackageIndex {
  let architecture = "";
  const packages = new Map<string, string>();
  for (const fields of opkgStanzas(text)) {
    const arch = fields.get("Architecture");
    if (architecture === "" && arch !== undefined && arch !== "all") architecture = arch;
    const name = fields.get("Package");
    const version = fields.get("Version");
    if (name === undefined || name === "" || version === undefined) continue;
    packages.set(abiStrippedName(name, fields.get("ABIVersion")) ?? name, version);
  }
  return { architecture, packages: Object.fromEntries(packages) };
}
