/**
 * Remembers a value derived from upstream files for as long as those files do
 * not change. The metadata client hands out the very same object (or string)
 * until upstream publishes a new version of a file, so "unchanged" is an
 * identity check on the inputs and needs no clock: a new upstream file makes
 * the next request derive afresh.
 */
export interface DerivedCache<T> {
  get(key: string, inputs: readonly unknown[], derive: () => T): T;
  readonly size: number;
}

interface Entry<T> {
  inputs: readonly unknown[];
  value: T;
}

const DEFAULT_MAX_ENTRIES = 512;

function sameInputs(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((input, index) => Object.is(input, b[index]));
}

/** Keys come from request paths, so the least recently used beyond `maxEntries` are dropped. */
export function createDerivedCache<T>(maxEntries = DEFAULT_MAX_ENTRIES): DerivedCache<T> {
  const entries = new Map<string, Entry<T>>();
  return {
    get(key, inputs, derive) {
      const entry = entries.get(key);
      entries.delete(key);
      if (entry && sameInputs(entry.inputs, inputs)) {
        entries.set(key, entry);
        return entry.value;
      }
      const value = derive();
      entries.set(key, { inputs: [...inputs], value });
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest === undefined) break;
        entries.delete(oldest);
      }
      return value;
    },
    get size() {
      return entries.size;
    },
  };
}
