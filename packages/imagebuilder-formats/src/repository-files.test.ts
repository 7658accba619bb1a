import { parseOrderedJson } from "@asu/python-compat";
import { describe, expect, it } from "vitest";
import { mergeRepositories, rewriteForCache } from "./repository-files.ts";

const opkgConf = `src/gz openwrt_core https://downloads.openwrt.org/releases/23.05.4/targets/ath79/generic/packages
src/gz openwrt_base https://downloads.openwrt.org/releases/23.05.4/packages/mips_24kc/base
src/gz openwrt_luci https://downloads.openwrt.org/releases/23.05.4/packages/mips_24kc/luci
## This is the local package repository, do not remove!
src imagebuilder file:packages

## Place your custom repositories here, they must match the architecture and version.
# src/gz %n %U
# src custom file:///usr/src/openwrt/bin/%T/packages

## Remove -- this line to disable signature checking.
option check_signature
`;

const apkRepositories = `https://downloads.openwrt.org/releases/25.12.0/targets/x86/64/packages/packages.adb
https://downloads.openwrt.org/releases/25.12.0/packages/x86_64/base/packages.adb
https://downloads.openwrt.org/releases/25.12.0/packages/x86_64/luci/packages.adb
`;

const extra = {
  libremesh: "https://feed.libremesh.org/master",
  alpha: "https://feed.example.org/alpha",
};

describe("mergeRepositories for opkg", () => {
  it("appends requested feeds in the client's order and keeps the existing file", () => {
    expect(mergeRepositories("opkg", opkgConf, extra, "append")).toBe(
      [
        "src/gz openwrt_core https://downloads.openwrt.org/releases/23.05.4/targets/ath79/generic/packages",
        "src/gz openwrt_base https://downloads.openwrt.org/releases/23.05.4/packages/mips_24kc/base",
        "src/gz openwrt_luci https://downloads.openwrt.org/releases/23.05.4/packages/mips_24kc/luci",
        "## This is the local package repository, do not remove!",
        "src imagebuilder file:packages",
        "## Place your custom repositories here, they must match the architecture and version.",
        "# src/gz %n %U",
        "# src custom file:///usr/src/openwrt/bin/%T/packages",
        "## Remove -- this line to disable signature checking.",
        "option check_signature",
        "src/gz libremesh https://feed.libremesh.org/master",
        "src/gz alpha https://feed.example.org/alpha",
        "",
      ].join("\n"),
    );
  });

  it("replaces the remote feeds but keeps the ImageBuilder's own lines", () => {
    expect(mergeRepositories("opkg", opkgConf, extra, "replace")).toBe(
      "src/gz libremesh https://feed.libremesh.org/master\n" +
        "src/gz alpha https://feed.example.org/alpha\n" +
        "src imagebuilder file:packages\n" +
        "option check_signature\n",
    );
  });

  it("keeps integer-like names where the client put them", () => {
    const sent = parseOrderedJson(
      '{"b": "https://feed.example.org/b", "10": "https://feed.example.org/10", "1": "https://feed.example.org/1"}',
    ) as Record<string, string>;
    expect(mergeRepositories("opkg", "", sent, "replace")).toBe(
      "src/gz b https://feed.example.org/b\n" +
        "src/gz 10 https://feed.example.org/10\n" +
        "src/gz 1 https://feed.example.org/1\n" +
        "src imagebuilder file:packages\n" +
        "option check_signature\n",
    );
  });

  it("writes a minimal file when replacing with nothing", () => {
    expect(mergeRepositories("opkg", opkgConf, {}, "replace")).toBe(
      "src imagebuilder file:packages\noption check_signature\n",
    );
  });

  it("adds the required lines an appended file lacks or has only commented out", () => {
    const existing = "src/gz base https://x/base\n# option check_signature\n";
    expect(mergeRepositories("opkg", existing, { extra: "https://y/extra" }, "append")).toBe(
      "src/gz base https://x/base\n" +
        "# option check_signature\n" +
        "src/gz extra https://y/extra\n" +
        "src imagebuilder file:packages\n" +
        "option check_signature\n",
    );
  });

  it("lets a requested feed replace the existing feed of that name", () => {
    const existing =
      "src/gz base https://old/base\nsrc/gz luci https://old/luci\nsrc base file:base\n";
    expect(mergeRepositories("opkg", existing, { base: "https://new/base" }, "append")).toBe(
      "src/gz luci https://old/luci\n" +
        "src/gz base https://new/base\n" +
        "src imagebuilder file:packages\n" +
        "option check_signature\n",
    );
  });

  it("reads CRLF files and drops blank lines", () => {
    expect(mergeRepositories("opkg", "src/gz a https://a\r\n\r\n  \r\n", {}, "append")).toBe(
      "src/gz a https://a\nsrc imagebuilder file:packages\noption check_signature\n",
    );
  });
});

describe("mergeRepositories for apk", () => {
  it("appends requested URLs in the client's order", () => {
    expect(mergeRepositories("apk", apkRepositories, extra, "append")).toBe(
      "https://downloads.openwrt.org/releases/25.12.0/targets/x86/64/packages/packages.adb\n" +
        "https://downloads.openwrt.org/releases/25.12.0/packages/x86_64/base/packages.adb\n" +
        "https://downloads.openwrt.org/releases/25.12.0/packages/x86_64/luci/packages.adb\n" +
        "https://feed.libremesh.org/master\n" +
        "https://feed.example.org/alpha\n",
    );
  });

  it("replaces with only the requested URLs and no opkg lines", () => {
    expect(mergeRepositories("apk", apkRepositories, extra, "replace")).toBe(
      "https://feed.libremesh.org/master\nhttps://feed.example.org/alpha\n",
    );
  });

  it("writes a lone newline when replacing with nothing, as the Python server does", () => {
    expect(mergeRepositories("apk", apkRepositories, {}, "replace")).toBe("\n");
  });

  it("does not list a requested URL twice", () => {
    const url = "https://downloads.openwrt.org/releases/25.12.0/packages/x86_64/base/packages.adb";
    expect(mergeRepositories("apk", apkRepositories, { base: url }, "append")).toBe(
      "https://downloads.openwrt.org/releases/25.12.0/targets/x86/64/packages/packages.adb\n" +
        "https://downloads.openwrt.org/releases/25.12.0/packages/x86_64/luci/packages.adb\n" +
        `${url}\n`,
    );
  });

  it("keeps an empty existing file empty plus the requested lines", () => {
    expect(mergeRepositories("apk", "", { a: "https://a/packages.adb" }, "append")).toBe(
      "https://a/packages.adb\n",
    );
  });
});

describe("rewriteForCache", () => {
  it("routes every https URL through the cache", () => {
    expect(rewriteForCache(opkgConf, "http://cache.internal:3128").split("\n").slice(0, 3)).toEqual(
      [
        "src/gz openwrt_core http://cache.internal:3128/downloads.openwrt.org/releases/23.05.4/targets/ath79/generic/packages",
        "src/gz openwrt_base http://cache.internal:3128/downloads.openwrt.org/releases/23.05.4/packages/mips_24kc/base",
        "src/gz openwrt_luci http://cache.internal:3128/downloads.openwrt.org/releases/23.05.4/packages/mips_24kc/luci",
      ],
    );
  });

  it("drops trailing slashes of the cache URL", () => {
    expect(rewriteForCache("https://a/x https://b/y\n", "http://cache//")).toBe(
      "http://cache/a/x http://cache/b/y\n",
    );
  });

  it("leaves http URLs, local feeds and everything without a cache URL alone", () => {
    const text = "src/gz a http://plain/a\nsrc imagebuilder file:packages\n";
    expect(rewriteForCache(text, "http://cache")).toBe(text);
    expect(rewriteForCache(apkRepositories, "")).toBe(apkRepositories);
  });

  it("inserts the cache URL literally", () => {
    expect(rewriteForCache("https://a/x", "http://c/$&|")).toBe("http://c/$&|/a/x");
  });
});
