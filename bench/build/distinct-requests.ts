import { request } from "./request.ts";

/**
 * Leaf-ish packages of the opkg double's feed, none conflicting with the
 * base request; two of them per build keep every build the same size.
 */
const EXTRAS = [
  "curl",
  "nano",
  "kmod-usb-storage",
  "luci-i18n-base-de",
  "e2fsprogs",
  "partx-utils",
  "mkf2fs",
  "grub2-bios-setup",
  "kmod-fs-vfat",
  "kmod-igb",
  "kmod-r8169",
  "kmod-tg3",
];

/** Every pair of the extras, each a different package list of the same size. */
export function pairs(): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < EXTRAS.length; i++) {
    for (let j = i + 1; j < EXTRAS.length; j++) out.push([EXTRAS[i]!, EXTRAS[j]!]);
  }
  return out;
}

export type BenchRequest = typeof request;

/** `count` build requests with package lists (so request hashes) all different from each other. */
export function distinctRequests(count: number): BenchRequest[] {
  const all = pairs();
  if (count > all.length) {
    throw new Error(`at most ${all.length} distinct requests, asked for ${count}`);
  }
  return all.slice(0, count).map((extra) => ({
    ...request,
    packages: [...request.packages, ...extra],
  }));
}
