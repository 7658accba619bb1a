import { describe, expect, it } from "vitest";
import { parseIndexSource, readFeeds, readIndexSource, sourceIdentity } from "./index-sources.ts";

/** A metadata client over a fixed set of files, recording what was read. */
function files(entries: Record<string, unknown>) {
  const reads: string[] = [];
  return {
    reads,
    async getJson<T>(path: string) {
      reads.push(path);
      return entries[path] as T | undefined;
    },
    async getText(path: string) {
      reads.push(path);
      const value = entries[path];
      return typeof value === "string" ? value : undefined;
    },
  };
}

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
describe("readIndexSource", () => {
  it("takes a version 2 index.json without reading Packages", async () => {
    const json = { version: 2, architecture: "x86_64", packages: { a: "1" } };
    const client = files({ "d/index.json": json, "d/Packages": OPKG });
    expect(await readIndexSource(client, "d")).toEqual({ format: "apk", json });
    expect(client.reads).toEqual(["d/index.json"]);
  });

  it("hands out the client's object itself, the identity answers are cached by", async () => {
    const json = { version: 3, packages: {} };
    const source = await readIndexSource(files({ "d/index.json": json }), "d");
    expect(sourceIdentity(source)).toBe(json);
  });

  it.each([
    ["a version 1 index.json", { version: 1, packages: { libubox20240329: "x" } }],
    ["an index.json without version", { architecture: "x86_64", packages: {} }],
    ["a text version", { version: "2", packages: {} }],
    ["no index.json", undefined],
  ])("falls back to Packages over %s", async (_name, json) => {
    const client = files({ "d/index.json": json, "d/Packages": OPKG });
    expect(await readIndexSource(client, "d")).toEqual({ format: "opkg", text: OPKG });
    expect(client.reads).toEqual(["d/index.json", "d/Packages"]);
  });

  it("finds nothing when neither file exists", async () => {
    expect(await readIndexSource(files({}), "d")).toBeUndefined();
    expect(sourceIdentity(undefined)).toBeUndefined();
  });
});
describe("parseIndexSource", () => {
  it("parses Packages, dropping ABI suffixes", () => {
    expect(parseIndexSource(opkg(OPKG))).toEqual({
      architecture: "mips_24kc",
      packages: { busybox: "1.36.1-r2", libubox: "2024.03.29~eb9bcb64-r1" },
    });
  });

  it("serves an apk index without its version", () => {
    expect(parseIndexSource(apk({ apk: "2.14.9-r1" }))).toEqual({
      architecture: "x86_64",
      packages: { apk: "2.14.9-r1" },
    });
  });

  it("reads a version 2 index without packages as empty", () => {
    expect(parseIndexSource({ format: "apk", json: { version: 2 } })).toEqual({
      architecture: "",
      packages: {},
    });
  });
});
describe("readFeeds", () => {
  it("reads the second word of each feeds.conf line", async () => {
    const client = files({
      "p/feeds.conf":
        "src-git packages https://git.openwrt.org/feed/packages.git^b1635b8\n" +
        "src-git luci https://git.openwrt.org/project/luci.git^63d8b79\n\n",
    });
    expect(await readFeeds(client, "p")).toEqual(["packages", "luci"]);
  });

  it("skips names that are not one plain path segment", async () => {
    const client = files({
      "p/feeds.conf": "src-git .. x\nsrc-git . x\nsrc-git a/b x\nsrc-git a\\b x\nsrc-git ok x\n",
    });
    expect(await readFeeds(client, "p")).toEqual(["ok"]);
  });

  it("has no feeds without a feeds.conf", async () => {
    expect(await readFeeds(files({}), "p")).toEqual([]);
  });
});
