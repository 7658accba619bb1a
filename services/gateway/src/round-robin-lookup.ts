import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import type { LookupFunction } from "node:net";

export type ResolveAll = (hostname: string) => Promise<LookupAddress[]>;

export interface RoundRobinLookup extends LookupFunction {
  /** Drops the cached addresses, e.g. after a connection to one of them failed. */
  forget(hostname: string): void;
}

const resolveAll: ResolveAll = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true }, (error, addresses) =>
      error ? reject(error) : resolve(addresses),
    );
  });

interface Entry {
  addresses: Promise<LookupAddress[]>;
  expires: number;
}

/**
 * A `lookup` for outgoing connections that hands out a service name's
 * addresses in turn. Compose gives every replica of a tier the service name
 * as a DNS alias; the system resolver would send every new connection to the
 * first replica, this spreads them over all of them. Addresses are kept for
 * `ttlMs`, so replicas added or removed are seen within that time.
 */
export function roundRobinLookup(
  options: { resolve?: ResolveAll; ttlMs?: number; now?: () => number } = {},
): RoundRobinLookup {
  const resolve = options.resolve ?? resolveAll;
  const ttlMs = options.ttlMs ?? 5_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, Entry>();
  // Kept apart from the addresses, so a retry after forget() moves on to the
  // next replica instead of starting over at the one that just failed.
  const turns = new Map<string, number>();

  const entryFor = (hostname: string): Entry => {
    const cached = cache.get(hostname);
    if (cached && cached.expires > now()) return cached;
    const entry: Entry = { addresses: resolve(hostname), expires: now() + ttlMs };
    // A failed resolution is not remembered: the next connection asks again.
    entry.addresses.catch(() => {
      if (cache.get(hostname) === entry) cache.delete(hostname);
    });
    cache.set(hostname, entry);
    return entry;
  };

  const lookup = ((hostname, lookupOptions, callback) => {
    const entry = entryFor(hostname);
    entry.addresses.then(
      (all) => {
        const family = lookupOptions.family;
        const usable =
          family === 4 || family === 6 ? all.filter((address) => address.family === family) : all;
        const turn = turns.get(hostname) ?? 0;
        turns.set(hostname, turn + 1);
        const chosen = usable[turn % Math.max(usable.length, 1)];
        if (!chosen) {
          const error: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
          error.code = "ENOTFOUND";
          callback(error, "", 0);
        } else if (lookupOptions.all) {
          callback(null, [chosen]);
        } else {
          callback(null, chosen.address, chosen.family);
        }
      },
      (error: NodeJS.ErrnoException) => callback(error, "", 0),
    );
  }) as RoundRobinLookup;
  lookup.forget = (hostname) => {
    cache.delete(hostname);
  };
  return lookup;
}
