import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { FakeUpstream } from "./fake-upstream.ts";
import type { ImagebuilderFlavour } from "./imagebuilder-double.ts";

/*
 * The fake upstream's package indexes for a test-double ImageBuilder, in
 * upstream's shapes and split, so the build tier's availability check passes
 * every build the double accepts.
 */

const SOURCE_DIR = fileURLToPath(new URL("../imagebuilder-double/", import.meta.url));

/** Names the double installs that no upstream index has: a custom repository's packages. */
export const CUSTOM_REPOSITORY_PACKAGES = ["custom-tool"];

/** Libraries published under an ABI-suffixed name in opkg indexes. */
const ABI_VERSIONS: Record<string, string> = {
  libubox: "20240329",
  libubus: "20231128",
  libuci: "20250120",
  libmbedtls: "21",
  "libjson-c": "5",
};

/**
 * Not packages, but the double's markers for slow builds and for builds that
 * go past the sandbox's limits: indexes list them so such builds reach the double.
 */
const MARKERS = [
  "slowpackage",
  "bigoutput",
  "fillbuilder",
  "memoryhog",
  "forkbomb",
  "fullbuilder",
].map((name) => ({ name, version: "1.0-r1" }));

interface Entry {
  name: string;
  version: string;
}

async function doublePackages(flavour: ImagebuilderFlavour): Promise<Entry[]> {
  const text = await readFile(`${SOURCE_DIR}packages-${flavour}.txt`, "utf8");
  const abiNames = new Set(Object.entries(ABI_VERSIONS).map(([name, abi]) => `${name}${abi}`));
  const entries: Entry[] = [];
  for (const line of text.split("\n")) {
    const [name, version] = line.trim().split(/\s+/);
    if (!name || !version || name.startsWith("#")) continue;
    if (abiNames.has(name) || CUSTOM_REPOSITORY_PACKAGES.includes(name)) continue;
    entries.push({ name, version });
  }
  return [...entries, ...MARKERS];
}

function opkgIndex(entries: readonly Entry[], arch: string): string {
  return entries
    .map(({ name, version }) => {
      const abi = ABI_VERSIONS[name];
      const lines = [`Package: ${abi ? `${name}${abi}` : name}`, `Version: ${version}`];
      if (abi) lines.push(`Provides: ${name}`, `ABIVersion: ${abi}`);
      lines.push(`Architecture: ${arch}`, `Filename: ${name}_${version}_${arch}.ipk`);
      return `${lines.join("\n")}\n`;
    })
    .join("\n");
}

function apkIndex(entries: readonly Entry[], arch: string): string {
  return JSON.stringify({
    version: 2,
    architecture: arch,
    packages: Object.fromEntries(entries.map(({ name, version }) => [name, version])),
  });
}

export interface DoubleIndexOptions {
  version: string;
  target: string;
  flavour: ImagebuilderFlavour;
}

/**
 * Publishes the indexes on the fake upstream. The kmods folder is named by
 * the target's profiles.json as served now, so call it again after changing
 * that file.
 */
export async function publishDoubleIndexes(
  upstream: FakeUpstream,
  options: DoubleIndexOptions,
): Promise<void> {
  const path = options.version === "SNAPSHOT" ? "snapshots" : `releases/${options.version}`;
  const targets = await fetch(`${upstream.url}/${path}/.targets.json`);
  const arch = targets.ok
    ? ((await targets.json()) as Record<string, string>)[options.target]
    : undefined;
  const profiles = await fetch(`${upstream.url}/${path}/targets/${options.target}/profiles.json`);
  const kernel = profiles.ok
    ? ((await profiles.json()) as { linux_kernel?: Record<string, string> }).linux_kernel
    : undefined;
  const entries = await doublePackages(options.flavour);
  const index = options.flavour === "apk" ? apkIndex : opkgIndex;
  const file = options.flavour === "apk" ? "index.json" : "Packages";
  const packageArch = arch ?? "all";

  const kmods = entries.filter(
    (entry) => entry.name.startsWith("kmod-") || entry.name === "kernel",
  );
  const luci = entries.filter((entry) => entry.name.startsWith("luci"));
  const libraries = entries.filter((entry) => entry.name.startsWith("lib"));
  const rest = entries.filter(
    (entry) => !kmods.includes(entry) && !luci.includes(entry) && !libraries.includes(entry),
  );
  const targetDir = `${path}/targets/${options.target}`;
  if (kernel) {
    const dir = `${kernel.version}-${kernel.release}-${kernel.vermagic}`;
    upstream.addFile(`${targetDir}/packages/${file}`, index(rest, packageArch));
    upstream.addFile(`${targetDir}/kmods/${dir}/${file}`, index(kmods, packageArch));
  } else {
    upstream.addFile(`${targetDir}/packages/${file}`, index([...rest, ...kmods], packageArch));
  }
  if (arch === undefined) return;
  const feeds = { base: libraries, luci, packages: [] as Entry[] };
  upstream.addFile(
    `${path}/packages/${arch}/feeds.conf`,
    Object.keys(feeds)
      .map((feed) => `src-git ${feed} https://git.openwrt.org/feed/${feed}.git^0123456789`)
      .join("\n"),
  );
  for (const [feed, content] of Object.entries(feeds)) {
    upstream.addFile(`${path}/packages/${arch}/${feed}/${file}`, index(content, arch));
  }
}
