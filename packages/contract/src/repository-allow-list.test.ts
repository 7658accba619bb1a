import { describe, expect, it } from "vitest";
import { isRepositoryAllowed, repositoryNotAllowedMessage } from "./repository-allow-list.ts";

const allowList = ["https://allowed.example.com/openwrt", "http://feed.example.org/"];

function allowed(url: string, list: readonly string[] = allowList): boolean {
  return isRepositoryAllowed(url, list);
}

describe("isRepositoryAllowed", () => {
  it("admits URLs under an entry", () => {
    expect(allowed("https://allowed.example.com/openwrt/packages")).toBe(true);
    expect(allowed("https://allowed.example.com/openwrt/")).toBe(true);
    expect(allowed("https://allowed.example.com/openwrt/24.10/packages/x86_64/base")).toBe(true);
    expect(allowed("https://allowed.example.com/openwrt/x/packages.adb")).toBe(true);
    expect(allowed("http://feed.example.org/anything/at/all")).toBe(true);
    expect(allowed("http://feed.example.org/")).toBe(true);
    expect(allowed("http://feed.example.org")).toBe(true);
  });

  it("admits the entry's own path", () => {
    expect(allowed("https://allowed.example.com/openwrt")).toBe(true);
  });

  it("ignores the query and fragment of an admitted URL", () => {
    expect(allowed("https://allowed.example.com/openwrt/feed?arch=x86_64#top")).toBe(true);
  });

  it("admits nothing with an empty allow list", () => {
    expect(allowed("https://allowed.example.com/openwrt/packages", [])).toBe(false);
    expect(allowed("https://downloads.openwrt.org/releases/24.10.0", [])).toBe(false);
  });

  it("compares paths on segment boundaries", () => {
    expect(allowed("https://allowed.example.com/openwrt-evil/packages")).toBe(false);
    expect(allowed("https://allowed.example.com/openwrtx")).toBe(false);
    expect(allowed("https://allowed.example.com/")).toBe(false);
    expect(allowed("https://allowed.example.com")).toBe(false);
    expect(allowed("https://allowed.example.com/other/openwrt/packages")).toBe(false);
  });

  it("treats an entry's trailing slash as the same prefix", () => {
    const list = ["https://allowed.example.com/openwrt/"];
    expect(allowed("https://allowed.example.com/openwrt/packages", list)).toBe(true);
    expect(allowed("https://allowed.example.com/openwrt", list)).toBe(true);
    expect(allowed("https://allowed.example.com/openwrt-evil", list)).toBe(false);
  });

  it("compares paths case-sensitively", () => {
    expect(allowed("https://allowed.example.com/OpenWrt/packages")).toBe(false);
  });

  it("refuses hosts that only start or end like an allowed one", () => {
    expect(allowed("https://allowed.example.com.evil.org/openwrt/packages")).toBe(false);
    expect(allowed("https://evil-allowed.example.com/openwrt/packages")).toBe(false);
    expect(allowed("https://sub.allowed.example.com/openwrt/packages")).toBe(false);
    expect(allowed("https://example.com/openwrt/packages")).toBe(false);
  });

  it("refuses userinfo, whether a trick or real credentials", () => {
    expect(allowed("https://allowed.example.com@evil.org/openwrt/packages")).toBe(false);
    expect(allowed("https://allowed.example.com:443@evil.org/openwrt/packages")).toBe(false);
    expect(allowed("https://user:secret@allowed.example.com/openwrt/packages")).toBe(false);
    expect(allowed("https://user@allowed.example.com/openwrt/packages")).toBe(false);
    expect(allowed("https://@allowed.example.com/openwrt/packages")).toBe(false);
  });

  it("refuses an allowed URL carried in the query or fragment", () => {
    expect(allowed("https://evil.org/?x=https://allowed.example.com/openwrt/")).toBe(false);
    expect(allowed("https://evil.org/#https://allowed.example.com/openwrt/")).toBe(false);
    expect(allowed("https://evil.org/https://allowed.example.com/openwrt/")).toBe(false);
  });

  it("requires the entry's scheme", () => {
    expect(allowed("http://allowed.example.com/openwrt/packages")).toBe(false);
    expect(allowed("https://feed.example.org/anything")).toBe(false);
    expect(allowed("ftp://allowed.example.com/openwrt/packages")).toBe(false);
    expect(allowed("file:///openwrt/packages", ["file:///openwrt"])).toBe(false);
  });

  it("requires the entry's port, the default port being no port", () => {
    expect(allowed("https://allowed.example.com:8443/openwrt/packages")).toBe(false);
    expect(allowed("https://allowed.example.com:443/openwrt/packages")).toBe(true);
    expect(allowed("http://feed.example.org:80/x")).toBe(true);
    expect(allowed("http://feed.example.org:8080/x")).toBe(false);
    const list = ["https://mirror.example.net:8443/openwrt"];
    expect(allowed("https://mirror.example.net:8443/openwrt/x", list)).toBe(true);
    expect(allowed("https://mirror.example.net/openwrt/x", list)).toBe(false);
  });

  it("admits upper-case schemes and hosts, which name the same place", () => {
    expect(allowed("HTTPS://ALLOWED.EXAMPLE.COM/openwrt/packages")).toBe(true);
    expect(allowed("https://Allowed.Example.Com/openwrt/packages")).toBe(true);
    expect(
      allowed("https://allowed.example.com/openwrt/x", ["HTTPS://ALLOWED.example.COM/openwrt"]),
    ).toBe(true);
  });

  it("treats a trailing root dot as the same host", () => {
    expect(allowed("https://allowed.example.com./openwrt/packages")).toBe(true);
    expect(
      allowed("https://allowed.example.com/openwrt/x", ["https://allowed.example.com./openwrt"]),
    ).toBe(true);
    expect(allowed("https://allowed.example.com../openwrt/packages")).toBe(false);
  });

  it("refuses dot segments, plain or percent-encoded", () => {
    expect(allowed("https://allowed.example.com/openwrt/../evil")).toBe(false);
    expect(allowed("https://allowed.example.com/openwrt/./packages")).toBe(false);
    expect(allowed("https://allowed.example.com/openwrt/%2e%2e/evil")).toBe(false);
    expect(allowed("https://allowed.example.com/openwrt/.%2E/evil")).toBe(false);
    expect(allowed("https://allowed.example.com/evil/../openwrt/packages")).toBe(false);
    expect(allowed("https://allowed.example.com/openwrt/..")).toBe(false);
  });

  it("admits dots inside names", () => {
    expect(allowed("https://allowed.example.com/openwrt/24.10.0/..packages...")).toBe(true);
  });

  it("refuses encoded separators and backslashes", () => {
    expect(allowed("https://allowed.example.com/openwrt/..%2fevil")).toBe(false);
    expect(allowed("https://allowed.example.com/openwrt/%2F..%2Fevil")).toBe(false);
    expect(allowed("https://allowed.example.com/openwrt/..%5cevil")).toBe(false);
    expect(allowed("https://allowed.example.com\\@evil.org/openwrt/")).toBe(false);
    expect(allowed("https://allowed.example.com/openwrt\\..\\evil")).toBe(false);
  });

  it("refuses hosts that are only equal after decoding", () => {
    expect(allowed("https://%61llowed.example.com/openwrt/packages")).toBe(false);
    expect(allowed("https://allowed%2eexample.com/openwrt/packages")).toBe(false);
    expect(allowed("https://аllowed.example.com/openwrt/packages")).toBe(false); // Cyrillic а
    expect(allowed("http://0x7f.1/openwrt/x", ["http://127.0.0.1/openwrt"])).toBe(false);
    expect(allowed("http://127.0.0.1/openwrt/x", ["http://127.0.0.1/openwrt"])).toBe(true);
  });

  it("refuses white space and control characters WHATWG would drop", () => {
    expect(allowed("https://allowed.exa\tmple.com/openwrt/packages")).toBe(false);
    expect(allowed("https://allowed.example.com/openwrt/pack\nages")).toBe(false);
    expect(allowed(" https://allowed.example.com/openwrt/packages")).toBe(false);
    expect(allowed("https://allowed.example.com/openwrt/packages\u0000")).toBe(false);
    expect(allowed("https://allowed.example.com/openwrt/packages\u007f")).toBe(false);
  });

  it("refuses what is not an absolute http(s) URL", () => {
    for (const url of [
      "",
      "allowed.example.com/openwrt",
      "/openwrt/x",
      "https:/allowed.example.com/openwrt/x",
      "https:///openwrt",
      "https://:443/openwrt/x",
      "javascript:alert(1)",
    ]) {
      expect(allowed(url)).toBe(false);
    }
  });

  it("skips allow-list entries that are no http(s) URL", () => {
    expect(
      allowed("https://allowed.example.com/openwrt/x", [
        "not a url",
        "allowed.example.com",
        "ftp://allowed.example.com/",
      ]),
    ).toBe(false);
    expect(
      allowed("https://allowed.example.com/openwrt/x", [
        "not a url",
        "https://allowed.example.com/",
      ]),
    ).toBe(true);
  });

  it("admits a whole host when the entry has no path", () => {
    const list = ["https://downloads.openwrt.org"];
    expect(
      allowed("https://downloads.openwrt.org/releases/24.10.0/packages/x86_64/base", list),
    ).toBe(true);
    expect(allowed("https://downloads.openwrt.org.evil.org/releases", list)).toBe(false);
  });
});

describe("repositoryNotAllowedMessage", () => {
  it("names the refused URL as given", () => {
    expect(repositoryNotAllowedMessage("https://evil.org/feed")).toBe(
      "Repository not allowed: https://evil.org/feed",
    );
  });
});
