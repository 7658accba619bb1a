// Neither package names nor versions ever contain whitespace, so a line is
// exactly two tokens: opkg separates them with " - ", apk with one space.
const MANIFEST_LINE_FORMATS = [
  /^(\S+) - (\S+)$/, // opkg
  /^(\S+) (\S+)$/, // apk
] as const;

/**
 * Parses `make manifest` output (or a `.manifest` file) into name → version.
 * Each line is read on its own, so a stray line (a make notice, a blank)
 * is skipped instead of spoiling the whole manifest.
 */
export function parseManifest(text: string): Record<string, string> {
  const manifest = new Map<string, string>();
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    for (const format of MANIFEST_LINE_FORMATS) {
      const match = format.exec(line);
      if (match?.[1] !== undefined && match[2] !== undefined) {
        manifest.set(match[1], match[2]);
        break;
      }
    }
  }
  // fromEntries defines own properties, so a package named `__proto__` stays a package.
  return Object.fromEntries(manifest);
}

/**
 * The packages_versions check after `make manifest`: every requested package
 * must be in the manifest at exactly the requested version. Reports the first
 * offender in request order, as the Python server does.
 */
export function checkPackagesVersions(
  manifest: Record<string, string>,
  wanted: Record<string, string>,
): string | null {
  for (const [name, version] of Object.entries(wanted)) {
    if (!Object.hasOwn(manifest, name)) {
      return `Error: Impossible package selection: ${name} not in manifest`;
    }
    const built = manifest[name];
    if (built !== version) {
      return `Error: Impossible package selection: ${name} version not as requested: ${version} vs. ${built}`;
    }
  }
  return null;
}
