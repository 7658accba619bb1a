import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseOpkgPackages } from "./opkg-packages.ts";

function fixture(name: string): string {
  return readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");
}

// A 23.05 core feed: ABI-versioned library names and continued descriptions.
const releaseFeed = `Package: libubox20230523
Version: 2023.05.23~75a3b870-r1
Depends: libc
License: ISC
Section: libs
SourceDateEpoch: 1684865785
Maintainer: Felix Fietkau <nbd@nbd.name>
ABIVersion: 20230523
Architecture: mips_24kc
Installed-Size: 20374
Filename: libubox20230523_2023.05.23~75a3b870-r1_mips_24kc.ipk
Size: 21022
SHA256sum: 4d1f8b5a1c0b3e0f5b7a0e6c3f2a1d9e8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39
Description:  Basic utility library
 Package: not-a-package
 Version: not-a-version

Package: luci-base
Version: 23.051.66410~a505bb1
Architecture: all
Description:  LuCI core libraries

Package: uclient-fetch
Version: 2023.04.13~007d9454-r1
Depends: libc, libuclient20201210
Architecture: mips_24kc
`;

describe("parseOpkgPackages", () => {
  it("reads the reference Packages index", () => {
    expect(parseOpkgPackages(fixture("opkg-Packages-testtarget.txt"))).toEqual({
      architecture: "mips_mips32",
      packages: {
        "base-files": "214-r12467-5ea1b1ecd1",
        "block-mount": "2020-01-21-deb745f8-1",
        blockd: "2020-01-21-deb745f8-1",
      },
    });
    expect(parseOpkgPackages(fixture("opkg-Packages-base-all-arch.txt"))).toEqual({
      architecture: "x86_64",
      packages: { "464xlat": "12", "6in4": "26", "6rd": "10" },
    });
  });

  it("drops the ABI version from names and ignores continuation lines", () => {
    expect(parseOpkgPackages(releaseFeed)).toEqual({
      architecture: "mips_24kc",
      packages: {
        libubox: "2023.05.23~75a3b870-r1",
        "luci-base": "23.051.66410~a505bb1",
        "uclient-fetch": "2023.04.13~007d9454-r1",
      },
    });
  });

  it("matches the Python server's own example, trailing blank lines included", () => {
    const text =
      "Package: libusb-1.0-0\nABIVersion: -0\nVersion: 1.2.3\nArchitecture: x86_64\n\n" +
      "Package: libpython-3.3-3\nABIVersion: -3\nVersion: 1.2.3\n\n" +
      "Package: bort\nVersion: 9.9.9\n\n\n\n";
    expect(parseOpkgPackages(text)).toEqual({
      architecture: "x86_64",
      packages: { "libusb-1.0": "1.2.3", "libpython-3.3": "1.2.3", bort: "9.9.9" },
    });
  });

  it("skips `all` when picking the architecture", () => {
    const text =
      "Package: a\nVersion: 1\nArchitecture: all\n\n" +
      "Package: b\nVersion: 2\n\n" +
      "Package: c\nVersion: 3\nArchitecture: aarch64_cortex-a53\n\n" +
      "Package: d\nVersion: 4\nArchitecture: x86_64\n";
    expect(parseOpkgPackages(text).architecture).toBe("aarch64_cortex-a53");
    expect(parseOpkgPackages("Package: a\nVersion: 1\nArchitecture: all\n").architecture).toBe("");
  });

  it("strips an ABI version only where the name ends with it", () => {
    const text =
      "Package: libfoo1\nABIVersion: 2\nVersion: 1\n\n" +
      "Package: 2\nABIVersion: 2\nVersion: 2\n\n" +
      "Package: libbar\nABIVersion:\nVersion: 3\n";
    expect(parseOpkgPackages(text).packages).toEqual({ libfoo1: "1", "2": "2", libbar: "3" });
  });

  it("skips stanzas without a name or version and keeps the last duplicate", () => {
    const text =
      "Version: 1\nArchitecture: mipsel_24kc\n\n" +
      "Package: noversion\n\n" +
      "Package: dup\nVersion: 1\n\n" +
      "Package: dup\nVersion: 2\n";
    expect(parseOpkgPackages(text)).toEqual({
      architecture: "mipsel_24kc",
      packages: { dup: "2" },
    });
  });

  it("reads CRLF files, blank lines holding spaces and values without a space", () => {
    const text = "Package: a\r\nVersion:1.0  \r\n \r\nPackage: b\r\nVersion: 2\r\n";
    expect(parseOpkgPackages(text).packages).toEqual({ a: "1.0", b: "2" });
  });

  it("reads an empty index as empty", () => {
    expect(parseOpkgPackages("")).toEqual({ architecture: "", packages: {} });
  });
});
