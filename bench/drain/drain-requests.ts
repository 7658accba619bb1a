import { request } from "../build/request.ts";

/** Leaf packages of the opkg double's feed; two of them per build keep every build the same size. */
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

const PAIRS = EXTRAS.flatMap((a, i) => EXTRAS.slice(i + 1).map((b) => [a, b] as const));

/**
 * `count` distinct build requests, each taking the double's set time
 * (`slowpackage`): a pair of extras, and past the pairs a root filesystem
 * size of its own (2,046 of them before sizes pass 130 MB).
 */
export function drainRequests(count: number) {
  return Array.from({ length: count }, (_, i) => {
    const pair = PAIRS[i % PAIRS.length] as readonly [string, string];
    const round = Math.floor(i / PAIRS.length);
    return {
      ...request,
      packages: [...request.packages, "slowpackage", ...pair],
      ...(round > 0 ? { rootfs_size_mb: 100 + round } : {}),
    };
  });
}
