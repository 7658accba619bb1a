import { compareCodePoints } from "@asu/python-compat";

/**
 * The PACKAGES list handed to the ImageBuilder (contract worker step 6).
 * With `diffPackages` the request is absolute: every default or profile
 * package not requested becomes a `-name` removal (sorted, deduplicated),
 * followed by the requested list in its order. Profile entries that already
 * are removals (`-swconfig` from `make info`) stay single-dash removals; the
 * Python server gets there by replacing every `--` in the name, this strips
 * just the one leading dash.
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
