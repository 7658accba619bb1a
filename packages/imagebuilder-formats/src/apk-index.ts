import type { PackageIndex } from "./opkg-packages.ts";

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Reads an apk `index.json` of version 2 or later (ABI-free names); anything
 * else gives null and the caller reads opkg's `Packages`. Entries whose
 * version is not a string, and other top-level keys, are not served.
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
