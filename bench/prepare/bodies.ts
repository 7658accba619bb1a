import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/*
 * Prepare bodies as routers send them: a real profile of a fixture target,
 * the installed packages a subset of what that version's indexes publish,
 * sometimes an upgrade (`from_version`), sometimes a typo. Seeded, so two
 * runs send the same bodies in the same order.
 */

const FIXTURES = fileURLToPath(new URL("../../test/fixtures/upstream/", import.meta.url));

/** Versions and targets of the fixtures whose indexes the fake upstream serves. */
const SOURCES = [
  {
    version: "24.10.0",
    dir: "releases/24.10.0",
    target: "ath79/generic",
    architecture: "mips_24kc",
    fromVersions: [null, "23.05.5"],
  },
] as const;

function filesUnder(dir: string): string[] {
  let entries: import("node:fs").Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

/** The names a router would have installed: opkg names without their ABI suffix, apk keys. */
function indexNames(file: string): string[] {
  const text = readFileSync(file, "utf8");
  if (file.endsWith("index.json")) return Object.keys(JSON.parse(text).packages ?? {});
  if (!file.endsWith("/Packages")) return [];
  return text.split(/\n\n+/).flatMap((stanza) => {
    const name = /^Package: (.+)$/m.exec(stanza)?.[1];
    if (!name) return [];
    const abi = /^ABIVersion: (.+)$/m.exec(stanza)?.[1];
    return [abi && name.endsWith(abi) ? name.slice(0, -abi.length) : name];
  });
}

/** mulberry32: a small seeded generator, so every run draws the same bodies. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A typo a person makes: one letter dropped, doubled or swapped with the next. */
function typo(name: string, random: () => number): string {
  const at = Math.floor(random() * (name.length - 1));
  const kind = Math.floor(random() * 3);
  if (kind === 0) return name.slice(0, at) + name.slice(at + 1);
  if (kind === 1) return name.slice(0, at + 1) + name.slice(at);
  return name.slice(0, at) + name[at + 1] + name[at] + name.slice(at + 2);
}

/**
 * `count` different bodies, or as many as the fixtures allow: every
 * (profile, from_version, diff_packages, package subset) once, in a seeded
 * random order, `typoShare` of them with one package misspelt.
 */
export function routerBodies(count: number, options: { seed?: number; typoShare?: number } = {}) {
  const random = seeded(options.seed ?? 13);
  const typoShare = options.typoShare ?? 0.02;
  const kinds: { base: Record<string, unknown>; names: string[] }[] = [];
  for (const source of SOURCES) {
    const root = join(FIXTURES, source.dir);
    const names = [
      ...new Set(
        [
          ...filesUnder(join(root, "packages", source.architecture)),
          ...filesUnder(join(root, "targets", source.target)),
        ].flatMap(indexNames),
      ),
    ].sort();
    const profiles = Object.keys(
      JSON.parse(readFileSync(join(root, "targets", source.target, "profiles.json"), "utf8"))
        .profiles,
    );
    for (const profile of profiles) {
      for (const fromVersion of source.fromVersions) {
        for (const diffPackages of [false, true]) {
          kinds.push({
            base: {
              version: source.version,
              target: source.target,
              profile,
              diff_packages: diffPackages,
              ...(fromVersion ? { from_version: fromVersion } : {}),
            },
            names,
          });
        }
      }
    }
  }
  // Every (kind, non-empty subset) is a body of its own; draw them without
  // repeats by walking a random permutation of their numbers.
  const perKind = kinds.map((kind) => 2 ** kind.names.length - 1);
  const total = perKind.reduce((sum, n) => sum + n, 0);
  const order = Array.from({ length: total }, (_, i) => i);
  for (let i = total - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  const bodies: string[] = [];
  for (const number of order.slice(0, count)) {
    let rest = number;
    let k = 0;
    while (rest >= (perKind[k] as number)) rest -= perKind[k++] as number;
    const kind = kinds[k] as (typeof kinds)[number];
    const mask = rest + 1;
    const packages = kind.names.filter((_, bit) => mask & (1 << bit));
    if (random() < typoShare) {
      const at = Math.floor(random() * packages.length);
      packages[at] = typo(packages[at] as string, random);
    }
    bodies.push(JSON.stringify({ ...kind.base, packages }));
  }
  return bodies;
}
