import type { Branch } from "./branches.ts";
import type { LinuxKernel } from "./upstream-metadata.ts";

/** The first 23.05 point release whose kernel modules moved out of the target's index. */
const FIRST_SPLIT_23_05_POINT = 6;
const FIRST_SPLIT_MAJOR = 24;

/**
 * Whether a version publishes its kernel modules in
 * `targets/{t}/{s}/kmods/{kernel}/` instead of the target's package index
 * (openwrt/buildbot a75ce026): snapshots, 24.x and later, and on 23.05 the
 * branch snapshot and 23.05.6 onwards. Point releases compare as numbers,
 * so 23.05.10 counts too (the Python server compares them as text).
 */
export function hasSplitKmods(version: string, branch: Pick<Branch, "snapshot">): boolean {
  if (branch.snapshot) return true;
  const [major, minor, point] = version.split(".");
  const majorNumber = minor === undefined ? 0 : Number.parseInt(major ?? "", 10);
  if (majorNumber >= FIRST_SPLIT_MAJOR) return true;
  if (majorNumber !== 23) return false;
  if (point === undefined) return minor === "05-SNAPSHOT";
  return Number.parseInt(point, 10) >= FIRST_SPLIT_23_05_POINT;
}

/** `6.6.73-1-2974fbe1…`: the kmods folder named by profiles.json's `linux_kernel`. */
export function kmodsDirectory(kernel: Partial<LinuxKernel> | undefined): string | undefined {
  if (!kernel) return undefined;
  const { version, release, vermagic } = kernel;
  if (typeof version !== "string" || typeof release !== "string" || typeof vermagic !== "string") {
    return undefined;
  }
  if (version === "" || release === "" || vermagic === "") return undefined;
  return `${version}-${release}-${vermagic}`;
}
