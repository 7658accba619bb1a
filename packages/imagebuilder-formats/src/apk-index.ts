import type { PackageIndex } from "./opkg-packages.ts";

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Reads an apk `index.json`. Only version 2 and later carry ABI-free names
 * that can be served as they are; anything else (the older opkg-era
 * index.json, no version, a broken document) gives null so the caller falls
 * back to the opkg `Packages` file. Entries whose version is not a string are
 * dropped rather than passed on to clients, and other top-level keys are not
 * served.
 */
export function parseApkIndex(json: unknown): PackageIndex | null {
  if (!isRecord(json)) return null;
  const { version, architecture, packages } = json;
  if (typeof version !== "number" || version < 2) return null;
  if (!isRecord(packages)) return null;
  const entries = Object.entries(packages).filter(
    (entry): entry is [string, string] => typeof entry[1] === "string",
  );
  return {
    architecture: typeof architecture === "string" ? architecture : "",
    packages: Object.fromEntries(entries),
  };
}
