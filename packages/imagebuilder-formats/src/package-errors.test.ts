import { describe, expect, it } from "vitest";
import { packageSelectionError, parsePackageErrors } from "./package-errors.ts";

// The Python server's check_package_errors docstring, its own test vector.
const pythonDocstring = `
    opkg error formats:

    Case opkg-1
        Collected errors:
         * opkg_install_cmd: Cannot install package OPKG-MISSING.

    Case opkg-2
        Collected errors:
         * check_conflicts_for: The following packages conflict with OPKG-CONFLICT-1:
         * check_conflicts_for:         OPKG-CONFLICT-2 *
         * opkg_install_cmd: Cannot install package OPKG-CONFLICT-1.

    Case opkg-3
        Collected errors:
         * check_data_file_clashes: Package OPKG-CONFLICT-3 wants to install file /some/file
                But that file is already provided by package  * OPKG-CONFLICT-4
         * opkg_install_cmd: Cannot install package OPKG-CONFLICT-4.

    apk error formats:

    Case apk-1
        ERROR: unable to select packages:
          APK-MISSING (no such package):
            required by: world[APK-MISSING]

    Case apk-2
        ERROR: unable to select packages:
          APK-CONFLICT-1:
            conflicts: APK-CONFLICT-2[nftables=1.1.6-r1]
            satisfies: world[nftables-json]
                       blah[nftables]
          APK-CONFLICT-2:
            conflicts: APK-CONFLICT-1[nftables=1.1.6-r1]
            satisfies: world[nftables-nojson]
`;

const opkgMissing = `Generate local signing keys...
Package list missing or not up-to-date, generating it.

Building package index...
Downloading http://downloads.openwrt.org/releases/23.05.4/targets/bcm27xx/bcm2711/packages/Packages.gz
Updated list of available packages in /builder/build_dir/target-aarch64_cortex-a72_musl/root-bcm27xx/../../../../builder/dl/openwrt_core
Downloading http://downloads.openwrt.org/releases/23.05.4/targets/bcm27xx/bcm2711/packages/Packages.sig
Signature check passed.
Collected errors:
 * opkg_install_cmd: Cannot install package luci-theme-argon.
 * opkg_install_cmd: Cannot install package luci-app-argon-config.
 * opkg_install_cmd: Cannot install package luci-theme-argon.
make[2]: *** [Makefile:187: package_install] Error 255
make[1]: *** [Makefile:152: _call_manifest] Error 2
make: *** [Makefile:313: manifest] Error 2
`;

// opkg prints a tab before the conflicting package and a space after the star.
const opkgConflict = `Collected errors:
 * check_conflicts_for: The following packages conflict with busybox:
 * check_conflicts_for: \tbusybox-selinux * 
 * opkg_install_cmd: Cannot install package busybox.
Makefile:154: recipe for target 'package_install' failed
make[2]: *** [package_install] Error 255
`;

const opkgFileClash = `Collected errors:
 * check_data_file_clashes: Package busybox wants to install file /build/openwrt-imagebuilder/build_dir/target-mips_24kc_musl/root-ar71xx/usr/bin/cmp
\tBut that file is already provided by package  * diffutils
 * opkg_install_cmd: Cannot install package busybox.
Makefile:152: recipe for target 'package_install' failed
`;

const apkMissing = `Generate local signing keys...
WARNING: can't open config file: /builder/shared-workdir/build/staging_dir/host/etc/ssl/openssl.cnf
read EC key
writing EC key
WARNING: opening /builder/packages/packages.adb: No such file or directory
Package list missing or not up-to-date, generating it.

Building package index...
ERROR: unable to select packages:
  libubox20251208 (no such package):
    required by: mtd-27[libubox20251208]
  dosfstools (no such package):
    required by: world[dosfstools]
make[2]: *** [Makefile:227: package_install] Error 2
make[1]: *** [Makefile:167: _call_manifest] Error 2
make: *** [Makefile:345: manifest] Error 2
`;

const apkVirtual = `Building package index...
ERROR: unable to select packages:
  liblzo (virtual):
    note: please select one of the 'provided by'
          packages explicitly
    provided by: liblzo2
    required by: world[liblzo]
make[2]: *** [Makefile:227: package_install] Error 1
`;

const apkOverwrite = `(171/238) Installing openvpn-openssl (2.6.14-r1)
(172/238) Installing luci-app-openvpn-server (3.0-r0)
ERROR: luci-app-openvpn-server-3.0-r0: trying to overwrite etc/config/openvpn owned by openvpn-openssl-2.6.14-r1.
1 error; 294 MiB in 424 packages
make[2]: *** [Makefile:227: package_install] Error 1
`;

const apkWrappedConflicts = `ERROR: unable to select packages:
  dnsmasq-full-2.90-r3:
    conflicts: dnsmasq-2.90-r3[dnsmasq] dnsmasq-dhcpv6-2.90-r3[dnsmasq]
               odhcpd-2024.05.08~a2988231-r1[dnsmasq]
    satisfies: world[dnsmasq-full]
  dnsmasq-2.90-r3:
    conflicts: dnsmasq-full-2.90-r3[dnsmasq]
    satisfies: world[dnsmasq]
`;

describe("parsePackageErrors", () => {
  it("finds nothing in unrelated output", () => {
    expect(parsePackageErrors("hello world")).toEqual({ missing: [], conflicts: [] });
    expect(parsePackageErrors("")).toEqual({ missing: [], conflicts: [] });
  });

  it("reads every case of the Python server's docstring", () => {
    expect(parsePackageErrors(pythonDocstring)).toEqual({
      missing: ["APK-MISSING", "OPKG-MISSING"],
      conflicts: [
        "APK-CONFLICT-1",
        "APK-CONFLICT-2",
        "OPKG-CONFLICT-1",
        "OPKG-CONFLICT-2",
        "OPKG-CONFLICT-3",
        "OPKG-CONFLICT-4",
      ],
    });
  });

  it("lists opkg's missing packages once each, sorted", () => {
    expect(parsePackageErrors(opkgMissing)).toEqual({
      missing: ["luci-app-argon-config", "luci-theme-argon"],
      conflicts: [],
    });
  });

  it("reads check_conflicts_for lines, tab and trailing space included", () => {
    expect(parsePackageErrors(opkgConflict)).toEqual({
      missing: [],
      conflicts: ["busybox", "busybox-selinux"],
    });
  });

  it("reads file clashes on both sides and drops the clashing package from missing", () => {
    expect(parsePackageErrors(opkgFileClash)).toEqual({
      missing: [],
      conflicts: ["busybox", "diffutils"],
    });
  });

  it("reads apk's missing packages whoever required them", () => {
    expect(parsePackageErrors(apkMissing)).toEqual({
      missing: ["dosfstools", "libubox20251208"],
      conflicts: [],
    });
  });

  it("reads both sides of an apk file overwrite", () => {
    expect(parsePackageErrors(apkOverwrite)).toEqual({
      missing: [],
      conflicts: ["luci-app-openvpn-server-3.0-r0", "openvpn-openssl-2.6.14-r1"],
    });
  });

  it("reads every entry of an apk conflict group, wrapped lines included", () => {
    expect(parsePackageErrors(apkWrappedConflicts)).toEqual({
      missing: [],
      conflicts: [
        "dnsmasq-2.90-r3",
        "dnsmasq-dhcpv6-2.90-r3",
        "dnsmasq-full-2.90-r3",
        "odhcpd-2024.05.08~a2988231-r1",
      ],
    });
  });

  it("does not take a satisfies list or a virtual package for a conflict", () => {
    expect(parsePackageErrors(apkVirtual)).toEqual({ missing: [], conflicts: [] });
  });

  it("reads CRLF output the same", () => {
    expect(parsePackageErrors(opkgFileClash.replaceAll("\n", "\r\n"))).toEqual({
      missing: [],
      conflicts: ["busybox", "diffutils"],
    });
    expect(parsePackageErrors(apkWrappedConflicts.replaceAll("\n", "\r\n")).conflicts).toHaveLength(
      4,
    );
  });

  it("keeps a missing package that conflicts with nothing next to conflicts", () => {
    expect(parsePackageErrors(`${opkgMissing}${opkgConflict}`)).toEqual({
      missing: ["luci-app-argon-config", "luci-theme-argon"],
      conflicts: ["busybox", "busybox-selinux"],
    });
  });

  it("keeps package names with dots whole", () => {
    expect(
      parsePackageErrors(" * opkg_install_cmd: Cannot install package libstdcpp6.0.30."),
    ).toEqual({ missing: ["libstdcpp6.0.30"], conflicts: [] });
  });
});

describe("packageSelectionError", () => {
  it("is the bare sentence when nothing is named", () => {
    expect(packageSelectionError("hello world")).toBe("Error: Impossible package selection");
    expect(packageSelectionError(apkVirtual)).toBe("Error: Impossible package selection");
  });

  it("names missing packages alone", () => {
    expect(packageSelectionError(" * opkg_install_cmd: Cannot install package OPKG-MISSING.")).toBe(
      "Error: Impossible package selection: missing (OPKG-MISSING)",
    );
    expect(packageSelectionError(apkMissing)).toBe(
      "Error: Impossible package selection: missing (dosfstools, libubox20251208)",
    );
  });

  it("names conflicts alone", () => {
    expect(packageSelectionError(opkgConflict)).toBe(
      "Error: Impossible package selection: conflicts (busybox, busybox-selinux)",
    );
  });

  it("names missing packages, then conflicts", () => {
    expect(packageSelectionError(pythonDocstring)).toBe(
      "Error: Impossible package selection:" +
        " missing (APK-MISSING, OPKG-MISSING)" +
        " conflicts (APK-CONFLICT-1, APK-CONFLICT-2, OPKG-CONFLICT-1," +
        " OPKG-CONFLICT-2, OPKG-CONFLICT-3, OPKG-CONFLICT-4)",
    );
    expect(packageSelectionError(`${apkMissing}${apkOverwrite}`)).toBe(
      "Error: Impossible package selection:" +
        " missing (dosfstools, libubox20251208)" +
        " conflicts (luci-app-openvpn-server-3.0-r0, openvpn-openssl-2.6.14-r1)",
    );
  });
});
