import type { IndexSource } from "@asu/upstream";
import { describe, expect, it } from "vitest";
import { feedIndexAnswer, targetIndexAnswer } from "./package-index.ts";

const OPKG = `Package: busybox
Version: 1.36.1-r2
Architecture: mips_24kc

Package: libubox20240329
Version: 2024.03.29~eb9bcb64-r1
ABIVersion: 20240329
Architecture: mips_24kc
`;

const apk = (packages: Record<string, string>, architecture = "x86_64") => ({
  format: "apk" as const,
  json: { version: 2, architecture, packages },
});
const opkg = (text: string) => ({ format: "opkg" as const, text });

describe("targetIndexAnswer", () => {
  it("merges kernel modules in, the modules winning a shared name", () => {
    const base = apk({ "base-files": "1", kernel: "old" });
    const kmods = apk({ kernel: "6.6.74-r1", "kmod-ath9k": "2" }, "other");
    expect(targetIndexAnswer(base, kmods)).toEqual({
      architecture: "x86_64",
      packages: { "base-files": "1", kernel: "6.6.74-r1", "kmod-ath9k": "2" },
    });
  });

  it("mixes formats", () => {
    expect(targetIndexAnswer(opkg(OPKG), apk({ "kmod-usb2": "6.6.73-r1" }))).toEqual({
      architecture: "mips_24kc",
      packages: {
        busybox: "1.36.1-r2",
        libubox: "2024.03.29~eb9bcb64-r1",
        "kmod-usb2": "6.6.73-r1",
      },
    });
  });

  it("is the base index alone without modules, and {} without a base", () => {
    expect(targetIndexAnswer(apk({ a: "1" }), undefined)).toEqual({
      architecture: "x86_64",
      packages: { a: "1" },
    });
    expect(targetIndexAnswer(undefined, apk({ a: "1" }))).toEqual({});
  });
});
describe("feedIndexAnswer", () => {
  it("merges feeds in order into one flat map, later feeds winning", () => {
    const feeds: (IndexSource | undefined)[] = [
      apk({ busybox: "1", shared: "from base" }),
      undefined,
      opkg("Package: shared\nVersion: from packages\nArchitecture: all\n"),
      apk({ luci: "25" }),
    ];
    const answer = feedIndexAnswer(feeds);
    expect(answer).toEqual({ busybox: "1", shared: "from packages", luci: "25" });
    expect(Object.keys(answer)).toEqual(["busybox", "shared", "luci"]);
  });

  it("keeps a package named __proto__ as a package", () => {
    const answer = feedIndexAnswer([opkg("Package: __proto__\nVersion: 1\nArchitecture: all\n")]);
    expect(JSON.stringify(answer)).toBe('{"__proto__":"1"}');
    expect(Object.getPrototypeOf(answer)).toBe(Object.prototype);
  });

  it("is empty without feeds", () => {
    expect(feedIndexAnswer([])).toEqual({});
  });
});
