/** Orders strings by Unicode code point, as Python's `sorted` does (JS compares UTF-16 units). */
function compareCodePoints(a: string, b: string): number {
  const left = a[Symbol.iterator]();
  const right = b[Symbol.iterator]();
  for (;;) {
    const x = left.next();
    const y = right.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const byPoint = (x.value.codePointAt(0) ?? 0) - (y.value.codePointAt(0) ?? 0);
    if (byPoint !== 0) return byPoint;
  }
}

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
