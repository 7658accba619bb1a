import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { podmanImageExists, runPodman } from "./podman-service.ts";

/** Where tests publish double images; the worker finds `{base}:{target-dash}-{tag}`. */
export const TEST_BASE_CONTAINER = "localhost/asu-test/imagebuilder";
/** Content-addressed images, so an unchanged double is never imported twice. */
const CACHE_REPOSITORY = "localhost/asu-test/imagebuilder-double";
/** Where the `make` script finds its data inside the image. */
const DOUBLE_DIR = "usr/share/imagebuilder-double";
const SOURCE_DIR = fileURLToPath(new URL("../imagebuilder-double/", import.meta.url));
const BUILDBOT_UID = 1000;
const UPSTREAM = "https://downloads.openwrt.org";

export type ImagebuilderFlavour = "opkg" | "apk";

export interface ImagebuilderDoubleImage {
  filesystem: string;
  type: string;
  /** File name after the image prefix, e.g. `squashfs-sysupgrade.bin`. */
  suffix: string;
}

export interface ImagebuilderDoubleProfile {
  id: string;
  vendor: string;
  model: string;
  variant?: string;
  supportedDevices: string[];
  /** Device packages; `-name` removes a default package, as in real profiles. */
  devicePackages: string[];
  images: ImagebuilderDoubleImage[];
}

export interface ImagebuilderDoubleOptions {
  /** Container tag part after the target: `v24.10.0`, `master`, `openwrt-24.10`. */
  tag: string;
  flavour: ImagebuilderFlavour;
  /** `24.10.0`, `SNAPSHOT`, `24.10-SNAPSHOT`; `*SNAPSHOT` images need `sh setup.sh`. */
  version: string;
  /** version_code reported by `make info`, e.g. `r28427-6df0e3d02a`. */
  revision: string;
  /** `ath79/generic` */
  target: string;
  profiles?: ImagebuilderDoubleProfile[];
  defaultPackages?: string[];
  archPackages?: string;
  sourceDateEpoch?: number;
  baseContainer?: string;
  /**
   * `make image` downloads what opkg/apk would (every feed's index, then the
   * manifest's packages) through the URLs of the repository file, so a
   * mirror or cache has to answer: see `mirrorFiles`. Off, it builds offline.
   */
  downloadPackages?: boolean;
  /**
   * Seconds `make manifest` and `make image` each sleep for a request that
   * names `slowpackage` (the image's SLOW_SECONDS; the make script's default
   * is 5 s): a build that takes a set time, for benchmarks of the queue.
   */
  slowSeconds?: number;
}

const SQUASHFS_ROUTER_IMAGES: ImagebuilderDoubleImage[] = [
  { filesystem: "initramfs", type: "kernel", suffix: "initramfs-kernel.bin" },
  { filesystem: "squashfs", type: "factory", suffix: "squashfs-factory.bin" },
  { filesystem: "squashfs", type: "sysupgrade", suffix: "squashfs-sysupgrade.bin" },
];

const PC_IMAGES: ImagebuilderDoubleImage[] = [
  { filesystem: "ext4", type: "combined", suffix: "ext4-combined.img.gz" },
  { filesystem: "ext4", type: "combined-efi", suffix: "ext4-combined-efi.img.gz" },
  { filesystem: "ext4", type: "rootfs", suffix: "ext4-rootfs.img.gz" },
  { filesystem: "squashfs", type: "combined", suffix: "squashfs-combined.img.gz" },
  { filesystem: "squashfs", type: "combined-efi", suffix: "squashfs-combined-efi.img.gz" },
  { filesystem: "squashfs", type: "rootfs", suffix: "squashfs-rootfs.img.gz" },
];

const ARCHER_PACKAGES = [
  "kmod-usb2",
  "kmod-usb-ledtrig-usbport",
  "kmod-ath10k-ct",
  "ath10k-firmware-qca988x-ct",
];

/** Profiles per target, after the real 23.05/24.10 metadata. */
export const PROFILE_PRESETS: Record<string, ImagebuilderDoubleProfile[]> = {
  "ath79/generic": [
    {
      id: "tplink_archer-c7-v5",
      vendor: "TP-Link",
      model: "Archer C7",
      variant: "v5",
      supportedDevices: ["tplink,archer-c7-v5", "archer-c7-v5"],
      devicePackages: ARCHER_PACKAGES,
      images: SQUASHFS_ROUTER_IMAGES,
    },
    {
      id: "tplink_archer-a7-v5",
      vendor: "TP-Link",
      model: "Archer A7",
      variant: "v5",
      supportedDevices: ["tplink,archer-a7-v5"],
      devicePackages: ARCHER_PACKAGES,
      images: SQUASHFS_ROUTER_IMAGES,
    },
    {
      id: "alfa-network_ap121f",
      vendor: "ALFA Network",
      model: "AP121F",
      supportedDevices: ["alfa-network,ap121f"],
      devicePackages: ["kmod-usb-chipidea2", "kmod-usb-storage", "-swconfig"],
      images: SQUASHFS_ROUTER_IMAGES.filter((image) => image.type !== "factory"),
    },
  ],
  "x86/64": [
    {
      id: "generic",
      vendor: "Generic",
      model: "x86/64",
      supportedDevices: [],
      devicePackages: [
        "kmod-amazon-ena",
        "kmod-amd-xgbe",
        "kmod-bnx2",
        "kmod-e1000e",
        "kmod-e1000",
        "kmod-forcedeth",
        "kmod-fs-vfat",
        "kmod-igb",
        "kmod-igc",
        "kmod-ixgbe",
        "kmod-r8169",
        "kmod-tg3",
      ],
      images: PC_IMAGES,
    },
  ],
};

const FALLBACK_PROFILES: ImagebuilderDoubleProfile[] = [
  {
    id: "generic",
    vendor: "Generic",
    model: "Test device",
    supportedDevices: [],
    devicePackages: [],
    images: SQUASHFS_ROUTER_IMAGES,
  },
];

/** Default packages of every target; `opkg` becomes `apk-mbedtls` in the apk flavour. */
const COMMON_DEFAULT_PACKAGES = [
  "base-files",
  "busybox",
  "ca-bundle",
  "dnsmasq",
  "dropbear",
  "firewall4",
  "fstools",
  "kmod-nft-offload",
  "libc",
  "libgcc",
  "libustream-mbedtls",
  "logd",
  "mtd",
  "netifd",
  "nftables",
  "odhcp6c",
  "odhcpd-ipv6only",
  "opkg",
  "ppp",
  "ppp-mod-pppoe",
  "procd",
  "procd-seccomp",
  "procd-ujail",
  "uci",
  "uclient-fetch",
  "urandom-seed",
  "urngd",
];

const TARGET_DEFAULT_PACKAGES: Record<string, string[]> = {
  "ath79/generic": [
    "kmod-ath9k",
    "kmod-gpio-button-hotplug",
    "swconfig",
    "uboot-envtools",
    "wpad-basic-mbedtls",
  ],
  "x86/64": ["e2fsprogs", "grub2-bios-setup", "kmod-button-hotplug", "mkf2fs", "partx-utils"],
};

const ARCH_PACKAGES: Record<string, string> = {
  "ath79/generic": "mips_24kc",
  "x86/64": "x86_64",
};

const FEEDS = ["base", "luci", "packages", "routing", "telephony"];

/** Signing keys the real images ship in `/builder/keys`; content is a stand-in. */
const SHIPPED_KEYS: Record<ImagebuilderFlavour, { name: string; content: string }> = {
  opkg: {
    name: "d310c6f2833e97f7",
    content:
      "untrusted comment: Public usign key for 24.10 release builds\nRWTTEMbdUwFuKZ6nPGPxKLTmUZ6m5Yr+RNzyYt7Sc8G6h1E6Y5LzV2b9\n",
  },
  apk: {
    name: "openwrt-snapshots.pem",
    content:
      "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfT5VlQQB3mIDoOyMIlv0iF3BmDn3\n-----END PUBLIC KEY-----\n",
  },
};

export function defaultPackagesFor(target: string, flavour: ImagebuilderFlavour): string[] {
  const packages = [...COMMON_DEFAULT_PACKAGES, ...(TARGET_DEFAULT_PACKAGES[target] ?? [])];
  return packages
    .map((name) => (name === "opkg" && flavour === "apk" ? "apk-mbedtls" : name))
    .sort();
}

export function isSnapshotVersion(version: string): boolean {
  return version.toUpperCase().endsWith("SNAPSHOT");
}

/** The download-server path setup.sh expects in VERSION_PATH (the branch path). */
export function versionPathFor(version: string): string {
  return version === "SNAPSHOT" ? "snapshots" : `releases/${version}`;
}

/** `mips_24kc` → `mips`, `x86_64` → `x86_64`, as `make info` prints it. */
function architectureOf(archPackages: string): string {
  return archPackages.startsWith("x86_64") ? "x86_64" : (archPackages.split("_")[0] ?? "");
}

function repositoryFile(
  flavour: ImagebuilderFlavour,
  versionPath: string,
  target: string,
  arch: string,
): { name: string; content: string } {
  const core = `${UPSTREAM}/${versionPath}/targets/${target}/packages`;
  const feeds = FEEDS.map((feed) => ({
    feed,
    url: `${UPSTREAM}/${versionPath}/packages/${arch}/${feed}`,
  }));
  if (flavour === "apk") {
    const lines = [core, ...feeds.map(({ url }) => url)].map((url) => `${url}/packages.adb`);
    return { name: "repositories", content: `${lines.join("\n")}\npackages/packages.adb\n` };
  }
  const lines = [
    `src/gz openwrt_core ${core}`,
    ...feeds.map(({ feed, url }) => `src/gz openwrt_${feed} ${url}`),
    "",
    "## This is the local package repository, do not remove!",
    "src imagebuilder file:packages",
    "",
    "option check_signature",
  ];
  return { name: "repositories.conf", content: `${lines.join("\n")}\n` };
}

const SAFE_TEXT = /^[^|"\\\n']*$/;
const SAFE_NAME = /^[\w.,+~-]+$/;

function assertSafe(value: string, what: string, pattern: RegExp): void {
  if (!pattern.test(value)) throw new Error(`imagebuilder double: unsafe ${what}: ${value}`);
}

function profileLine(profile: ImagebuilderDoubleProfile): string {
  assertSafe(profile.id, "profile id", SAFE_NAME);
  for (const text of [profile.vendor, profile.model, profile.variant ?? ""]) {
    assertSafe(text, "profile title", SAFE_TEXT);
  }
  for (const name of [...profile.supportedDevices, ...profile.devicePackages]) {
    assertSafe(name, "profile package or device", SAFE_NAME);
  }
  const images = profile.images.map((image) => {
    for (const part of [image.filesystem, image.type, image.suffix]) {
      assertSafe(part, "image spec", SAFE_NAME);
    }
    return `${image.filesystem}:${image.type}:${image.suffix}`;
  });
  return [
    profile.id,
    profile.vendor,
    profile.model,
    profile.variant ?? "",
    profile.supportedDevices.join(" "),
    profile.devicePackages.join(" "),
    images.join(" "),
  ].join("|");
}

function shellConfig(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([key, value]) => {
      assertSafe(value, key, /^[^'\n]*$/);
      return `${key}='${value}'\n`;
    })
    .join("");
}

// --- a minimal ustar writer: deterministic bytes, owners chosen per entry, no host
// tar or root needed to give /builder to buildbot.

export interface TarEntry {
  path: string;
  kind: "dir" | "file" | "symlink";
  mode: number;
  uid?: number;
  gid?: number;
  content?: Buffer;
  linkTarget?: string;
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, "0")}\0`;
}

function tarHeader(entry: TarEntry, size: number): Buffer {
  const header = Buffer.alloc(512);
  const name = entry.kind === "dir" ? `${entry.path}/` : entry.path;
  if (Buffer.byteLength(name) > 100 || Buffer.byteLength(entry.linkTarget ?? "") > 100) {
    throw new Error(`tar: path too long for the double's ustar writer: ${name}`);
  }
  header.write(name, 0, 100, "utf8");
  header.write(octal(entry.mode, 8), 100, 8, "ascii");
  header.write(octal(entry.uid ?? 0, 8), 108, 8, "ascii");
  header.write(octal(entry.gid ?? 0, 8), 116, 8, "ascii");
  header.write(octal(size, 12), 124, 12, "ascii");
  header.write(octal(0, 12), 136, 12, "ascii");
  header.write("        ", 148, 8, "ascii");
  header.write({ file: "0", symlink: "2", dir: "5" }[entry.kind], 156, 1, "ascii");
  header.write(entry.linkTarget ?? "", 157, 100, "utf8");
  header.write("ustar\u000000", 257, 8, "ascii");
  let checksum = 0;
  for (const byte of header) checksum += byte;
  header.write(`${checksum.toString(8).padStart(6, "0")}\0 `, 148, 8, "ascii");
  return header;
}

export function tarArchive(entries: readonly TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const content = entry.kind === "file" ? (entry.content ?? Buffer.alloc(0)) : Buffer.alloc(0);
    blocks.push(tarHeader(entry, content.length), content);
    const padding = (512 - (content.length % 512)) % 512;
    if (padding) blocks.push(Buffer.alloc(padding));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

// --- busybox-static from the host

const run = promisify(execFile);

/** True when the ELF file has no PT_INTERP segment, i.e. needs no dynamic loader. */
export function isStaticElf(bytes: Buffer): boolean {
  if (bytes.length < 64 || bytes.readUInt32BE(0) !== 0x7f454c46) return false;
  const is64 = bytes[4] === 2;
  const little = bytes[5] === 1;
  const u16 = (offset: number) =>
    little ? bytes.readUInt16LE(offset) : bytes.readUInt16BE(offset);
  const u32 = (offset: number) =>
    little ? bytes.readUInt32LE(offset) : bytes.readUInt32BE(offset);
  const phoff = is64
    ? Number(little ? bytes.readBigUInt64LE(32) : bytes.readBigUInt64BE(32))
    : u32(28);
  const phentsize = u16(is64 ? 54 : 42);
  const phnum = u16(is64 ? 56 : 44);
  const PT_INTERP = 3;
  for (let i = 0; i < phnum; i++) {
    if (u32(phoff + i * phentsize) === PT_INTERP) return false;
  }
  return true;
}

async function hostBusybox(): Promise<{ binary: Buffer; applets: string[] }> {
  const candidates = [process.env.ASU_TEST_BUSYBOX, "/usr/bin/busybox", "/bin/busybox"];
  const path = candidates.find((candidate) => candidate && existsSync(candidate));
  const hint = "the ImageBuilder double needs a static busybox: apt-get install -y busybox-static";
  if (!path) throw new Error(`no busybox found; ${hint}`);
  const binary = await readFile(path);
  if (!isStaticElf(binary)) throw new Error(`${path} is dynamically linked; ${hint}`);
  const { stdout } = await run(path, ["--list"]);
  const applets = stdout
    .split("\n")
    .filter((name) => /^[\w.[-]+$/.test(name) && name !== "busybox");
  return { binary, applets: applets.sort() };
}

// --- the image

async function sourceFile(name: string): Promise<Buffer> {
  return readFile(join(SOURCE_DIR, name));
}

interface DoubleFiles {
  /** What `make` reads (config, profiles, packages, conflicts). */
  data: { name: string; content: Buffer }[];
  /** What a release container has in /builder from the start, and a snapshot one after setup.sh. */
  unpacked: { name: string; content: Buffer }[];
  flavour: ImagebuilderFlavour;
}

async function doubleFiles(options: ImagebuilderDoubleOptions): Promise<DoubleFiles> {
  const { flavour, version, revision, target } = options;
  assertSafe(target, "target", /^[\w-]+\/[\w-]+$/);
  const versionPath = versionPathFor(version);
  const archPackages = options.archPackages ?? ARCH_PACKAGES[target] ?? "testarch";
  const profiles = options.profiles ?? PROFILE_PRESETS[target] ?? FALLBACK_PROFILES;
  const defaults = options.defaultPackages ?? defaultPackagesFor(target, flavour);
  for (const name of defaults) assertSafe(name, "default package", SAFE_NAME);

  const config = shellConfig({
    IB_FLAVOUR: flavour,
    IB_VERSION: version,
    IB_VERSION_PATH: versionPath,
    IB_REVISION: revision,
    IB_TARGET: target,
    IB_ARCH: architectureOf(archPackages),
    IB_ARCH_PACKAGES: archPackages,
    IB_SOURCE_DATE_EPOCH: String(options.sourceDateEpoch ?? 1737936000),
    IB_DEFAULT_PACKAGES: defaults.join(" "),
    IB_DOWNLOAD: options.downloadPackages ? "1" : "0",
  });
  const repositories = repositoryFile(flavour, versionPath, target, archPackages);
  const text = (content: string) => Buffer.from(content, "utf8");
  return {
    flavour,
    data: [
      { name: "config", content: text(config) },
      { name: "conflicts", content: await sourceFile("conflicts.txt") },
      { name: "packages", content: await sourceFile(`packages-${flavour}.txt`) },
      { name: "profiles", content: text(`${profiles.map(profileLine).join("\n")}\n`) },
    ],
    unpacked: [
      { name: "Makefile", content: await sourceFile("Makefile") },
      { name: repositories.name, content: text(repositories.content) },
    ],
  };
}

/** Where `make` finds an unpacked release's data in /builder, over the image's own. */
const UNPACKED_DATA_DIR = ".imagebuilder-double";

export interface ImagebuilderDoubleRelease {
  /** Upstream directory: `releases/24.10.0/targets/ath79/generic`. */
  dir: string;
  /** File name → content, to serve below `dir` (the archive and its sha256sums). */
  files: Record<string, Buffer>;
}

/**
 * A release's ImageBuilder archive as upstream publishes it, for the
 * snapshot double's setup.sh to download, verify and unpack: one top
 * directory with the Makefile, the repository file and the release's data.
 */
export async function imagebuilderDoubleRelease(
  options: Omit<ImagebuilderDoubleOptions, "tag" | "baseContainer">,
): Promise<ImagebuilderDoubleRelease> {
  const files = await doubleFiles({ ...options, tag: "" });
  const top = `openwrt-imagebuilder-${options.version}-${options.target.replace("/", "-")}.Linux-x86_64`;
  const entries: TarEntry[] = [
    { path: top, kind: "dir", mode: 0o755 },
    ...files.unpacked.map(
      ({ name, content }): TarEntry => ({
        path: `${top}/${name}`,
        kind: "file",
        mode: 0o644,
        content,
      }),
    ),
    { path: `${top}/${UNPACKED_DATA_DIR}`, kind: "dir", mode: 0o755 },
    ...files.data.map(
      ({ name, content }): TarEntry => ({
        path: `${top}/${UNPACKED_DATA_DIR}/${name}`,
        kind: "file",
        mode: 0o644,
        content,
      }),
    ),
  ];
  const archive = gzipSync(tarArchive(entries));
  const name = `${top}.tar.gz`;
  const sum = createHash("sha256").update(archive).digest("hex");
  return {
    dir: `${versionPathFor(options.version)}/targets/${options.target}`,
    files: { [name]: archive, sha256sums: Buffer.from(`${sum} *${name}\n`) },
  };
}

/** Every file of the double's root filesystem, in archive order. */
export async function imagebuilderDoubleEntries(
  options: ImagebuilderDoubleOptions,
  busybox: { binary: Buffer; applets: string[] },
): Promise<TarEntry[]> {
  const { flavour, version } = options;
  const snapshot = isSnapshotVersion(version);
  const { data, unpacked } = await doubleFiles(options);
  const key = SHIPPED_KEYS[flavour];
  const text = (content: string) => Buffer.from(content, "utf8");
  const buildbot = { uid: BUILDBOT_UID, gid: BUILDBOT_UID };

  const entries: TarEntry[] = [
    { path: "bin", kind: "dir", mode: 0o755 },
    { path: "bin/busybox", kind: "file", mode: 0o755, content: busybox.binary },
    ...busybox.applets.map(
      (name): TarEntry => ({
        path: `bin/${name}`,
        kind: "symlink",
        mode: 0o777,
        linkTarget: "busybox",
      }),
    ),
    { path: "dev", kind: "dir", mode: 0o755 },
    { path: "etc", kind: "dir", mode: 0o755 },
    {
      path: "etc/group",
      kind: "file",
      mode: 0o644,
      content: text(`root:x:0:\nbuildbot:x:${BUILDBOT_UID}:\n`),
    },
    {
      path: "etc/passwd",
      kind: "file",
      mode: 0o644,
      content: text(
        `root:x:0:0:root:/root:/bin/sh\nbuildbot:x:${BUILDBOT_UID}:${BUILDBOT_UID}:buildbot:/builder:/bin/sh\n`,
      ),
    },
    { path: "proc", kind: "dir", mode: 0o755 },
    { path: "root", kind: "dir", mode: 0o700 },
    { path: "sys", kind: "dir", mode: 0o755 },
    { path: "tmp", kind: "dir", mode: 0o1777 },
    { path: "usr", kind: "dir", mode: 0o755 },
    { path: "usr/bin", kind: "dir", mode: 0o755 },
    { path: "usr/bin/make", kind: "file", mode: 0o755, content: await sourceFile("make") },
    { path: "usr/share", kind: "dir", mode: 0o755 },
    { path: DOUBLE_DIR, kind: "dir", mode: 0o755 },
    ...data.map(
      ({ name, content }): TarEntry => ({
        path: `${DOUBLE_DIR}/${name}`,
        kind: "file",
        mode: 0o644,
        content,
      }),
    ),
    { path: `${DOUBLE_DIR}/unpacked`, kind: "dir", mode: 0o755 },
    ...unpacked.map(
      ({ name, content }): TarEntry => ({
        path: `${DOUBLE_DIR}/unpacked/${name}`,
        kind: "file",
        mode: 0o644,
        content,
      }),
    ),
    { path: "builder", kind: "dir", mode: 0o755, ...buildbot },
    { path: "builder/keys", kind: "dir", mode: 0o755, ...buildbot },
    {
      path: `builder/keys/${key.name}`,
      kind: "file",
      mode: 0o644,
      content: text(key.content),
      ...buildbot,
    },
  ];
  if (snapshot) {
    entries.push({
      path: "builder/setup.sh",
      kind: "file",
      mode: 0o755,
      content: await sourceFile("setup.sh"),
      ...buildbot,
    });
  } else {
    for (const { name, content } of unpacked) {
      entries.push({ path: `builder/${name}`, kind: "file", mode: 0o644, content, ...buildbot });
    }
  }
  return entries;
}

/** Image configuration of the real ImageBuilder containers: buildbot in /builder. */
const IMAGE_CHANGES = [
  "USER=buildbot",
  "WORKDIR=/builder",
  "ENV=PATH=/usr/bin:/bin",
  'CMD=["/bin/sh"]',
];

export function imagebuilderDoubleRef(
  options: Pick<ImagebuilderDoubleOptions, "target" | "tag" | "baseContainer">,
): string {
  return `${options.baseContainer ?? TEST_BASE_CONTAINER}:${options.target.replace("/", "-")}-${options.tag}`;
}

/**
 * Builds (or finds) the ImageBuilder double for these options and tags it as the
 * worker expects, `{base}:{target with / → -}-{tag}`; returns that reference.
 */
export async function buildImagebuilderDouble(
  podman: { env: Record<string, string> },
  options: ImagebuilderDoubleOptions,
): Promise<string> {
  const archive = tarArchive(await imagebuilderDoubleEntries(options, await hostBusybox()));
  const imageChanges =
    options.slowSeconds === undefined
      ? IMAGE_CHANGES
      : [...IMAGE_CHANGES, `ENV=SLOW_SECONDS=${options.slowSeconds}`];
  const hash = createHash("sha256").update(archive).update(JSON.stringify(imageChanges));
  const cacheRef = `${CACHE_REPOSITORY}:${hash.digest("hex").slice(0, 32)}`;
  if (!(await podmanImageExists(podman.env, cacheRef))) {
    const dir = await mkdtemp(join(tmpdir(), "asu-ib-double-"));
    try {
      const tarPath = join(dir, "rootfs.tar");
      await writeFile(tarPath, archive);
      const changes = imageChanges.flatMap((change) => ["--change", change]);
      await runPodman(podman.env, ["import", "--quiet", ...changes, tarPath, cacheRef]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const ref = imagebuilderDoubleRef(options);
  await runPodman(podman.env, ["tag", cacheRef, ref]);
  return ref;
}

/**
 * What a download server holds for a double built with `downloadPackages`,
 * by path below the server's root: every feed's index and, in the first
 * feed, a file for every package of the double's feed list.
 */
export async function mirrorFiles(
  options: ImagebuilderDoubleOptions,
): Promise<Map<string, Buffer>> {
  const versionPath = versionPathFor(options.version);
  const archPackages = options.archPackages ?? ARCH_PACKAGES[options.target] ?? "testarch";
  const { content } = repositoryFile(options.flavour, versionPath, options.target, archPackages);
  const feeds = [...content.matchAll(/https:\/\/\S+/g)].map((match) =>
    match[0].slice(`${UPSTREAM}/`.length).replace(/\/packages\.adb$/, ""),
  );
  const packages = (await sourceFile(`packages-${options.flavour}.txt`))
    .toString("utf8")
    .split("\n")
    .filter((line) => line.trim() !== "" && !line.startsWith("#"))
    .map((line) => line.trim().split(/\s+/) as [string, string]);
  const fileName = ([name, version]: [string, string]) =>
    options.flavour === "opkg"
      ? `${name}_${version}_${archPackages}.ipk`
      : `${name}-${version}.apk`;
  const index = packages
    .map((entry) => `Package: ${entry[0]}\nVersion: ${entry[1]}\nFilename: ${fileName(entry)}\n`)
    .join("\n");

  const files = new Map<string, Buffer>();
  for (const feed of feeds) {
    files.set(
      options.flavour === "opkg" ? `${feed}/Packages.gz` : `${feed}/packages.adb`,
      options.flavour === "opkg" ? gzipSync(index) : Buffer.from(index),
    );
  }
  const [first] = feeds;
  for (const entry of packages) {
    files.set(`${first}/${fileName(entry)}`, Buffer.from(`${entry[0]} ${entry[1]}\n`));
  }
  return files;
}
