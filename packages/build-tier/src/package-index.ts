import type { PackageIndex } from "@asu/imagebuilder-formats";
import { type IndexSource, parseIndexSource } from "@asu/upstream";

/**
 * A target's index with its kernel modules merged in (modules win on a name
 * both list, as they are the newer split-out copy). `{}` when the target has
 * no index at all, as the Python server answers.
 */
export function targetIndexAnswer(
  base: IndexSource | undefined,
  kmods: IndexSource | undefined,
): PackageIndex | Record<string, never> {
  if (base === undefined) return {};
  const index = parseIndexSource(base);
  if (kmods === undefined) return index;
  return {
    architecture: index.architecture,
    packages: { ...index.packages, ...parseIndexSource(kmods).packages },
  };
}

/**
 * An architecture's packages over all feeds, as one flat name → version map;
 * a later feed wins on a name two feeds list. Feeds without an index add
 * nothing.
 */
export function feedIndexAnswer(
  feeds: readonly (IndexSource | undefined)[],
): Record<string, string> {
  // A Map, not Object.assign: a package named `__proto__` must stay a package.
  const packages = new Map<string, string>();
  for (const source of feeds) {
    if (source === undefined) continue;
    for (const [name, version] of Object.entries(parseIndexSource(source).packages)) {
      packages.set(name, version);
    }
  }
  return Object.fromEntries(packages);
}
