import { describe, expect, it } from "vitest";
import { parseApkIndex } from "./apk-index.ts";

const snapshotIndex = JSON.parse(`{
  "version": 2,
  "architecture": "aarch64_cortex-a53",
  "packages": {
    "apk-mbedtls": "2.0_pre20250208-r1",
    "base-files": "1653~daef29c75d",
    "libubox": "2024.03.29~eb9bcb64-r1",
    "luci-base": "25.027.83426~170375e"
  }
}`);

describe("parseApkIndex", () => {
  it("serves a version 2 index without its version", () => {
    expect(parseApkIndex(snapshotIndex)).toEqual({
      architecture: "aarch64_cortex-a53",
      packages: {
        "apk-mbedtls": "2.0_pre20250208-r1",
        "base-files": "1653~daef29c75d",
        libubox: "2024.03.29~eb9bcb64-r1",
        "luci-base": "25.027.83426~170375e",
      },
    });
  });

  it("accepts later versions, as the Python server does", () => {
    expect(parseApkIndex({ version: 3, architecture: "x86_64", packages: { a: "1" } })).toEqual({
      architecture: "x86_64",
      packages: { a: "1" },
    });
  });

  it("refuses older or unversioned indexes so the caller falls back to Packages", () => {
    expect(parseApkIndex({ version: 1, architecture: "x86_64", packages: { a: "1" } })).toBeNull();
    expect(
      parseApkIndex({ architecture: "x86_64", packages: { libubox20230523: "1" } }),
    ).toBeNull();
    expect(parseApkIndex({ version: "2", architecture: "x86_64", packages: {} })).toBeNull();
  });

  it("refuses documents that are no index", () => {
    for (const json of [
      null,
      undefined,
      2,
      "index",
      [],
      { version: 2 },
      { version: 2, packages: [] },
    ]) {
      expect(parseApkIndex(json)).toBeNull();
    }
  });

  it("drops other keys and entries whose version is not text", () => {
    expect(
      parseApkIndex({
        version: 2,
        architecture: "x86_64",
        packages: { good: "1.0", number: 1, missing: null, nested: { v: "1" } },
        extra: "ignored",
      }),
    ).toEqual({ architecture: "x86_64", packages: { good: "1.0" } });
  });

  it("serves an index without an architecture with an empty one", () => {
    expect(parseApkIndex({ version: 2, packages: { a: "1" } })).toEqual({
      architecture: "",
      packages: { a: "1" },
    });
  });

  it("keeps a package called __proto__ as an ordinary entry", () => {
    const index = parseApkIndex(
      JSON.parse('{"version":2,"architecture":"x","packages":{"__proto__":"1"}}'),
    );
    expect(index?.packages).toBeDefined();
    expect(Object.hasOwn(index?.packages ?? {}, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(index?.packages)).toBe(Object.prototype);
  });
});
