import { gzipSync } from "node:zlib";
import { DEFAULT_BRANCHES } from "@asu/openwrt-releases";
import { packageAvailability } from "@asu/package-rules";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FakeUpstream, startFakeUpstream } from "../../../test/support/fake-upstream.ts";
import { createMetadataClient } from "./metadata-client.ts";
import { createPackageIndexes } from "./package-indexes.ts";
import { createRepositoryIndexes } from "./repository-indexes.ts";

const KERNEL_24_10 = {
  version: "6.6.73",
  release: "1",
  vermagic: "2974fbe1fa59be88f13eb8abeac8c10b",
};
const KERNEL_SNAPSHOT = {
  version: "6.6.74",
  release: "1",
  vermagic: "75d549fb5cfabb78b8a91bec585e5ecb",
};

let upstream: FakeUpstream;

beforeEach(async () => {
  upstream = await startFakeUpstream();
});
afterEach(async () => {
  await upstream.close();
});

function indexes(timeoutMs = 3000) {
  const client = createMetadataClient({ upstreamUrl: upstream.url });
  return createPackageIndexes({
    client,
    branches: DEFAULT_BRANCHES,
    repositories: createRepositoryIndexes({ timeoutMs }),
  });
}

const urls = (search: { indexes: readonly { url: string }[] }) =>
  search.indexes.map((index) => index.url.replace(upstream.url, ""));

describe("createPackageIndexes over the fake upstream", () => {
  it("reads a 24.10 target, its split kmods and every feed of feeds.conf", async () => {
    const search = await indexes().search({
      version: "24.10.0",
      target: "ath79/generic",
      architecture: "mips_24kc",
      metadata: { linux_kernel: KERNEL_24_10 },
    });
    expect(urls(search)).toEqual([
      "/releases/24.10.0/targets/ath79/generic/packages/Packages",
      "/releases/24.10.0/targets/ath79/generic/kmods/6.6.73-1-2974fbe1fa59be88f13eb8abeac8c10b/Packages",
      "/releases/24.10.0/packages/mips_24kc/base/Packages",
      "/releases/24.10.0/packages/mips_24kc/packages/Packages",
      "/releases/24.10.0/packages/mips_24kc/luci/Packages",
    ]);
    // feeds.conf names telephony, which the fixture does not publish.
    expect(search.unreadable).toEqual([
      {
        url: `${upstream.url}/releases/24.10.0/packages/mips_24kc/telephony/`,
        reason: "no index published",
      },
    ]);
    expect(packageAvailability("kmod-usb2", search).status).toBe("available");
    expect(packageAvailability("libubox20240329", search).status).toBe("available");
  });

  it("finds everything once every index is there, and calls the rest missing", async () => {
    upstream.addFile(
      "releases/24.10.0/packages/mips_24kc/telephony/Packages",
      "Package: asterisk\nVersion: 20.11.0-r1\nArchitecture: mips_24kc\n",
    );
    const search = await indexes().search({
      version: "24.10.0",
      target: "ath79/generic",
      architecture: "mips_24kc",
      metadata: { linux_kernel: KERNEL_24_10 },
    });
    expect(search.unreadable).toEqual([]);
    expect(packageAvailability("asterisk", search).status).toBe("available");
    expect(packageAvailability("no-such-package", search)).toEqual({ status: "missing" });
  });

  it("reads apk v2 indexes of a snapshot", async () => {
    const search = await indexes().search({
      version: "SNAPSHOT",
      target: "ath79/generic",
      architecture: "mips_24kc",
      metadata: { linux_kernel: KERNEL_SNAPSHOT },
    });
    expect(urls(search)).toEqual([
      "/snapshots/targets/ath79/generic/packages/index.json",
      "/snapshots/targets/ath79/generic/kmods/6.6.74-1-75d549fb5cfabb78b8a91bec585e5ecb/index.json",
      "/snapshots/packages/mips_24kc/base/index.json",
      "/snapshots/packages/mips_24kc/packages/index.json",
      "/snapshots/packages/mips_24kc/luci/index.json",
    ]);
    expect(search.unreadable).toEqual([]);
    expect(packageAvailability("owut", search).status).toBe("available");
    expect(packageAvailability("kmod-gpio-button-hotplug", search).status).toBe("available");
  });

  it("makes everything unknown where nothing is published (23.05.5 here)", async () => {
    const search = await indexes().search({
      version: "23.05.5",
      target: "ath79/generic",
      architecture: "mips_24kc",
      metadata: {},
    });
    expect(search.indexes).toEqual([]);
    expect(packageAvailability("luci", search).status).toBe("unknown");
  });

  it("says so when profiles.json names no kernel for a split version", async () => {
    const search = await indexes().search({
      version: "24.10.0",
      target: "ath79/generic",
      architecture: "mips_24kc",
      metadata: {},
    });
    expect(search.unreadable).toContainEqual({
      url: `${upstream.url}/releases/24.10.0/targets/ath79/generic/kmods/`,
      reason: "profiles.json names no kernel",
    });
  });

  it("parses a file once while upstream keeps it", async () => {
    const reader = indexes();
    const input = {
      version: "24.10.0",
      target: "ath79/generic",
      architecture: "mips_24kc",
      metadata: { linux_kernel: KERNEL_24_10 },
    };
    const first = await reader.search(input);
    const second = await reader.search(input);
    expect(second.indexes[0]?.names).toBe(first.indexes[0]?.names);
  });

  it("reuses a search for reuseForMs, then reads the files again", async () => {
    const client = createMetadataClient({ upstreamUrl: upstream.url });
    let reads = 0;
    const counting = {
      url: client.url,
      getJson: <T>(path: string) => {
        reads++;
        return client.getJson<T>(path);
      },
      getText: (path: string) => {
        reads++;
        return client.getText(path);
      },
    };
    let clock = 1000;
    const reader = createPackageIndexes({
      client: counting,
      branches: DEFAULT_BRANCHES,
      reuseForMs: 500,
      now: () => clock,
    });
    const input = {
      version: "24.10.0",
      target: "ath79/generic",
      architecture: "mips_24kc",
      metadata: { linux_kernel: KERNEL_24_10 },
    };
    const first = await reader.search(input);
    const readsOfOne = reads;
    expect(readsOfOne).toBeGreaterThan(0);
    clock += 499;
    expect(await reader.search(input)).toBe(first);
    expect(reads).toBe(readsOfOne);
    // Another kernel is another search.
    await reader.search({ ...input, metadata: { linux_kernel: KERNEL_SNAPSHOT } });
    expect(reads).toBeGreaterThan(readsOfOne);
    const afterOther = reads;
    clock += 1;
    const later = await reader.search(input);
    expect(later).not.toBe(first);
    expect(later).toEqual(first);
    expect(reads).toBe(afterOther + readsOfOne);
  });

  it("never reuses a search with repositories of the request's own", async () => {
    const client = createMetadataClient({ upstreamUrl: upstream.url });
    const reader = createPackageIndexes({
      client,
      branches: DEFAULT_BRANCHES,
      reuseForMs: 60_000,
      repositories: createRepositoryIndexes({ timeoutMs: 3000 }),
    });
    const input = {
      version: "24.10.0",
      target: "ath79/generic",
      architecture: "mips_24kc",
      metadata: { linux_kernel: KERNEL_24_10 },
      repositories: { gone: `${upstream.url}/custom/none` },
    };
    const first = await reader.search(input);
    expect(await reader.search(input)).not.toBe(first);
  });

  it("makes absent names unknown while upstream is down and nothing is cached", async () => {
    await upstream.setDown(true, "status503");
    const search = await indexes().search({
      version: "24.10.0",
      target: "ath79/generic",
      architecture: "mips_24kc",
      metadata: { linux_kernel: KERNEL_24_10 },
    });
    expect(search.indexes).toEqual([]);
    expect(search.unreadable.length).toBeGreaterThan(0);
    expect(packageAvailability("luci", search).status).toBe("unknown");
  });
});

describe("custom repositories", () => {
  const input = (repositories: Record<string, string>) => ({
    version: "24.10.0",
    target: "ath79/generic",
    architecture: "mips_24kc",
    metadata: { linux_kernel: KERNEL_24_10 },
    repositories,
  });

  it("reads an opkg feed's Packages, or its Packages.gz", async () => {
    upstream.addFile("custom/a/Packages", "Package: custom-a\nVersion: 1\nArchitecture: all\n");
    upstream.addFile(
      "custom/b/Packages.gz",
      gzipSync("Package: custom-b\nVersion: 2\nArchitecture: all\n"),
    );
    const search = await indexes().search(
      input({ a: `${upstream.url}/custom/a`, b: `${upstream.url}/custom/b/` }),
    );
    expect(packageAvailability("custom-a", search)).toMatchObject({
      status: "available",
      url: `${upstream.url}/custom/a/Packages`,
    });
    expect(packageAvailability("custom-b", search)).toMatchObject({ status: "available" });
  });

  it("reads the index.json beside an apk repository's packages.adb", async () => {
    upstream.addFile(
      "custom/apk/index.json",
      JSON.stringify({ version: 2, architecture: "mips_24kc", packages: { "custom-apk": "1" } }),
    );
    const search = await indexes().search(input({ c: `${upstream.url}/custom/apk/packages.adb` }));
    expect(packageAvailability("custom-apk", search).status).toBe("available");
  });

  it("makes absent names unknown when a repository cannot be read in time", async () => {
    const hanging = await startFakeUpstream();
    await hanging.setDown(true, "hang");
    try {
      const started = Date.now();
      const search = await indexes(200).search(input({ slow: `${hanging.url}/feed` }));
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(search.unreadable).toContainEqual({
        url: `${hanging.url}/feed/Packages`,
        reason: "timed out after 200 ms",
      });
      expect(packageAvailability("only-in-custom", search)).toMatchObject({ status: "unknown" });
    } finally {
      await hanging.setDown(false);
      await hanging.close();
    }
  });

  it("makes absent names unknown when a repository has no index", async () => {
    const search = await indexes().search(input({ gone: `${upstream.url}/custom/none` }));
    expect(packageAvailability("only-in-custom", search).status).toBe("unknown");
  });

  it("does not read more than its byte limit", async () => {
    upstream.addFile("custom/big/Packages", "x".repeat(2048));
    const reader = createRepositoryIndexes({ maxBytes: 1024 });
    expect(await reader.read(`${upstream.url}/custom/big`)).toEqual({
      ok: false,
      url: `${upstream.url}/custom/big/Packages`,
      reason: "larger than 1024 bytes",
    });
  });
});
