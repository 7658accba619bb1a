import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { checkPackagesVersions, parseManifest } from "./manifest.ts";

const opkgFixture = readFileSync(
  new URL("./fixtures/manifest-opkg-testprofile.txt", import.meta.url),
  "utf8",
);

const apkManifest = [
  "apk-mbedtls 2.0_pre20250208-r1",
  "base-files 1653~daef29c75d",
  "busybox 1.37.0-r2",
  "kernel 6.6.73~c3a5bd3e0a6eb0e8b4d8a1ef0a6db0da-r1",
  "luci-app-firewall 25.027.83426~170375e",
  "",
].join("\n");

describe("parseManifest", () => {
  it("reads an opkg manifest (name - version)", () => {
    const manifest = parseManifest(opkgFixture);
    expect(Object.keys(manifest)).toHaveLength(117);
    expect(manifest.test1).toBe("1.0");
    expect(manifest.test2).toBe("2.0");
    expect(manifest["base-files"]).toBe("213-r12288-1173719817");
    expect(manifest.kernel).toBe("4.14.169-1-0b48c80107a57fc6efd13f54e5fffa14");
    expect(manifest["kmod-mt76x2"]).toBe("4.14.169+2020-02-20-fd892bc0-1");
    expect(manifest.luci).toBe("git-20.047.38617-2fa9885-1");
    expect(manifest["wpad-basic"]).toBe("2019-08-08-ca8c2bd2-6");
  });

  it("reads an apk manifest (name version)", () => {
    expect(parseManifest(apkManifest)).toEqual({
      "apk-mbedtls": "2.0_pre20250208-r1",
      "base-files": "1653~daef29c75d",
      busybox: "1.37.0-r2",
      kernel: "6.6.73~c3a5bd3e0a6eb0e8b4d8a1ef0a6db0da-r1",
      "luci-app-firewall": "25.027.83426~170375e",
    });
  });

  it("matches the Python server's own examples", () => {
    const expected = { test: "1.0", test2: "2.0", test3: "3.0", test4: "3.0" };
    expect(parseManifest("test - 1.0\ntest2 - 2.0\ntest3 - 3.0\ntest4 - 3.0\n")).toEqual(expected);
    expect(parseManifest("test 1.0\ntest2 2.0\ntest3 3.0\ntest4 3.0\n")).toEqual(expected);
  });

  it("tells a hyphen version from the opkg separator", () => {
    expect(parseManifest("odd -1.0\nfoo - -\nbar - 1-2\n")).toEqual({
      odd: "-1.0",
      foo: "-",
      bar: "1-2",
    });
  });

  it("skips blank and garbage lines instead of failing", () => {
    expect(
      parseManifest(
        "\nmake[1]: Entering directory '/builder'\nbusybox - 1.36.1-1\n   \none\nlibc 1.2.5-r4\r\n",
      ),
    ).toEqual({ busybox: "1.36.1-1", libc: "1.2.5-r4" });
    expect(parseManifest("")).toEqual({});
  });

  it("keeps the last line for a name printed twice", () => {
    expect(parseManifest("a - 1\na - 2\n")).toEqual({ a: "2" });
  });

  it("keeps a package called __proto__ as an ordinary entry", () => {
    const manifest = parseManifest("__proto__ - 1.0\n");
    expect(Object.hasOwn(manifest, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(manifest)).toBe(Object.prototype);
  });
});

describe("checkPackagesVersions", () => {
  it("accepts a manifest that has every requested version", () => {
    expect(checkPackagesVersions({ test: "1.0", other: "2" }, { test: "1.0" })).toBeNull();
    expect(checkPackagesVersions({ test: "1.0" }, {})).toBeNull();
  });

  it("reports a version mismatch as wanted vs. built", () => {
    expect(checkPackagesVersions({ test: "1.0" }, { test: "2.0" })).toBe(
      "Error: Impossible package selection: test version not as requested: 2.0 vs. 1.0",
    );
  });

  it("reports a package the manifest lacks", () => {
    expect(checkPackagesVersions({ test: "1.0" }, { test2: "1.0" })).toBe(
      "Error: Impossible package selection: test2 not in manifest",
    );
  });

  it("reports the first offender in request order", () => {
    const manifest = { a: "1", b: "1", c: "1" };
    expect(checkPackagesVersions(manifest, { a: "1", c: "2", missing: "1" })).toBe(
      "Error: Impossible package selection: c version not as requested: 2 vs. 1",
    );
    expect(checkPackagesVersions(manifest, { missing: "1", c: "2" })).toBe(
      "Error: Impossible package selection: missing not in manifest",
    );
  });

  it("does not take inherited properties for packages", () => {
    expect(checkPackagesVersions({}, { toString: "1" })).toBe(
      "Error: Impossible package selection: toString not in manifest",
    );
    const wanted: Record<string, string> = JSON.parse('{"__proto__": "2"}');
    expect(checkPackagesVersions(parseManifest("__proto__ 1\n"), wanted)).toBe(
      "Error: Impossible package selection: __proto__ version not as requested: 2 vs. 1",
    );
    expect(checkPackagesVersions({}, wanted)).toBe(
      "Error: Impossible package selection: __proto__ not in manifest",
    );
  });
});
