import { compareCodePoints } from "@asu/python-compat";

/**
 * The PACKAGES list handed to the ImageBuilder (contract worker step 6); with
 * `diffPackages` every default not requested becomes a `-name` removal. An
 * entry already `-name` keeps one dash (Python strips every `--` instead).
 */
export function buildPackageList(
  requested: readonly string[],
  defaults: Iterable<string>,
  diffPackages: boolean,
): string[] {
  if (!diffPackages) return [...requested];
  const wanted = new Set(requested);
  const removals = new Set<string>();
  for (const name of defaults) {
    if (wanted.has(name)) continue;
    removals.add(`-${name.startsWith("-") ? name.slice(1) : name}`);
  }
  return [...[...removals].sort(compareCodePoints), ...requested];
}
