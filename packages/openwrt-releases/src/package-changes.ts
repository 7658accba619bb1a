/**
 * Upstream package renames and removals, keyed by the OpenWrt revision
 * (commit count) at which they happened. Served to clients inside every
 * branch's `package_changes` and used by the prepare tier to migrate a
 * device's package list from one version to another.
 */
export interface PackageChange {
  /** The package name before the change. */
  source: string;
  /** The package name after the change; absent when the package was removed. */
  target?: string;
  revision: number;
  /**
   * Set when the change touched the default package list, so clients apply it
   * even to packages the user never chose (they came with the image).
   */
  mandatory?: boolean;
}

export const PACKAGE_CHANGES: readonly PackageChange[] = [
  { source: "firewall", target: "firewall4", revision: 18611 },
  { source: "kmod-nft-nat6", revision: 20282, mandatory: true },
  { source: "libustream-wolfssl", target: "libustream-mbedtls", revision: 21994 },
  { source: "px5g-wolfssl", target: "px5g-mbedtls", revision: 21994 },
  { source: "wpad-basic-wolfssl", target: "wpad-basic-mbedtls", revision: 21994 },
  { source: "luci-app-diag-core", revision: 25984, mandatory: true },
  { source: "auc", target: "owut", revision: 26792 },
  { source: "luci-app-opkg", target: "luci-app-package-manager", revision: 27897 },
  { source: "opkg", target: "apk-mbedtls", revision: 28056 },
];

/**
 * The changes a branch carries: those at or before `revision`, or all of them
 * when `revision` is undefined (a snapshot branch has no branch-off point).
 * Copies, so a branch served as JSON never shares objects with the table.
 */
export function packageChangesUpTo(
  revision: number | undefined,
  changes: readonly PackageChange[] = PACKAGE_CHANGES,
): PackageChange[] {
  return changes
    .filter((change) => revision === undefined || change.revision <= revision)
    .map((change) => ({ ...change }));
}
