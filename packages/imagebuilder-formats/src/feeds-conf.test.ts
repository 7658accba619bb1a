import { describe, expect, it } from "vitest";
import { parseFeedsConf } from "./feeds-conf.ts";

describe("parseFeedsConf", () => {
  it("reads the feed names of a release's feeds.conf", () => {
    const text =
      "src-git packages https://git.openwrt.org/feed/packages.git^b1635b8\n" +
      "src-git luci https://git.openwrt.org/project/luci.git^63d8b79\n" +
      "src-git routing https://git.openwrt.org/feed/routing.git^e351d1e\n" +
      "src-git telephony https://git.openwrt.org/feed/telephony.git^2a4541d\n";
    expect(parseFeedsConf(text)).toEqual(["packages", "luci", "routing", "telephony"]);
  });

  it("reads repositories-style lines", () => {
    expect(parseFeedsConf("src/gz base https://downloads.openwrt.org/x/base\n")).toEqual(["base"]);
  });

  it("skips blank lines, comments and lines with one word", () => {
    const text =
      "\n# src-git old https://example.org/old.git\n   \nsrc-git\n\tsrc-git  packages   https://x\r\n";
    expect(parseFeedsConf(text)).toEqual(["packages"]);
    expect(parseFeedsConf("")).toEqual([]);
  });
});
