import { readFileSync } from "node:fs";
import { createApiApp } from "@asu/http";
import { DEFAULT_BRANCHES } from "@asu/openwrt-releases";
import { createMetadataClient, createOpenwrtCatalog, type MetadataClient } from "@asu/upstream";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { contractChangesOf } from "../../../test/support/contract-tables.ts";
import { type FakeUpstream, startFakeUpstream } from "../../../test/support/fake-upstream.ts";
import { rawRequest } from "../../../test/support/raw-request.ts";
import { type ServedApp, serveApp } from "../../../test/support/serve-app.ts";
import { silentLogger } from "../../../test/support/silent-logger.ts";
import { type JsonApiDeps, type JsonApiSettings, registerJsonApi } from "./json-api.ts";

const silent = silentLogger("json-api-test");

const FIXTURES = new URL("../../../test/fixtures/upstream/", import.meta.url);
const fixtureJson = (path: string) => JSON.parse(readFileSync(new URL(path, FIXTURES), "utf8"));

const SETTINGS: JsonApiSettings = {
  upstream_url: "https://downloads.openwrt.org",
  server_contact: "asu@example.org",
  allow_defaults: true,
  repository_allow_list: ["https://feed.example.org/openwrt"],
  max_custom_rootfs_size_mb: 2048,
  max_defaults_length: 4096,
};

let upstream: FakeUpstream;

function start(
  options: { ttlMs?: number; now?: () => number; client?: JsonApiDeps["client"] } = {},
): Promise<ServedApp> {
  const client = createMetadataClient({
    upstreamUrl: upstream.url,
    timeoutMs: 2000,
    ttlMs: options.ttlMs,
    now: options.now,
  });
  const app = createApiApp({ title: "test", version: "0.0.0", logger: silent });
  registerJsonApi(app, {
    catalog: createOpenwrtCatalog({ client, branches: DEFAULT_BRANCHES, now: options.now }),
    client: options.client ?? client,
    settings: SETTINGS,
    version: "1.2.3-test",
  });
  return serveApp(app);
}

async function get(served: ServedApp, path: string) {
  const res = await fetch(`${served.url}${path}`);
  return { status: res.status, res, text: await res.text() };
}

async function getJson(served: ServedApp, path: string) {
  const { status, res, text } = await get(served, path);
  return { status, res, body: JSON.parse(text) };
}

const branch = (name: string) => {
  const found = DEFAULT_BRANCHES.find((entry) => entry.name === name);
  if (!found) throw new Error(name);
  return found;
};

/** The branches the fixture upstream gives: newest version's targets, or none published. */
function expectedBranches() {
  return [
    {
      ...branch("SNAPSHOT"),
      versions: ["SNAPSHOT"],
      targets: fixtureJson("snapshots/.targets.json"),
    },
    { ...branch("25.12"), versions: ["25.12.0-rc1", "25.12-SNAPSHOT"], targets: {} },
    {
      ...branch("24.10"),
      versions: ["24.10.0", "24.10-SNAPSHOT"],
      targets: fixtureJson("releases/24.10.0/.targets.json"),
    },
    {
      ...branch("23.05"),
      versions: ["23.05.5", "23.05-SNAPSHOT"],
      targets: fixtureJson("releases/23.05.5/.targets.json"),
    },
    { ...branch("22.03"), versions: ["22.03.7", "22.03-SNAPSHOT"], targets: {} },
    { ...branch("21.02"), versions: ["21.02-SNAPSHOT"], targets: {} },
  ];
}

const LATEST = ["25.12.0-rc1", "24.10.0", "23.05.5"];

describe("registerJsonApi", () => {
  let served: ServedApp;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
  });

  afterAll(async () => {
    await upstream?.close();
  });

  // A tier per test: its metadata cache would otherwise carry what one test
  // read into what the next sees asked upstream.
  beforeEach(async () => {
    upstream.requests.length = 0;
    served = await start();
  });

  afterEach(async () => {
    await served?.close();
  });

  describe("/json/v1/latest.json", () => {
    it("lists upcoming, stable and oldstable", async () => {
      const { status, res, text } = await get(served, "/json/v1/latest.json");
      expect(status).toBe(200);
      expect(text).toBe(JSON.stringify({ latest: LATEST }));
      expect(res.headers.get("content-type")).toBe("application/json");
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
    });
  });

  describe("/json/v1/branches.json", () => {
    it("lists every branch with versions, targets and package changes", async () => {
      const { status, body } = await getJson(served, "/json/v1/branches.json");
      expect(status).toBe(200);
      expect(body).toEqual(expectedBranches());
      expect(body[2].name).toBe("24.10");
      expect(body[2].package_changes).toEqual(contractChangesOf("24.10"));
    });
  });

  describe("/json/v1/overview.json", () => {
    it("gives latest, the branches by name, the upstream URL and the server's limits", async () => {
      const { status, res, text } = await get(served, "/json/v1/overview.json");
      expect(status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/json");
      const branches = expectedBranches();
      expect(JSON.parse(text)).toEqual({
        latest: LATEST,
        branches: Object.fromEntries(branches.map((entry) => [entry.name, entry])),
        upstream_url: "https://downloads.openwrt.org",
        server: {
          version: "1.2.3-test",
          contact: "asu@example.org",
          allow_defaults: true,
          repository_allow_list: ["https://feed.example.org/openwrt"],
          max_custom_rootfs_size_mb: 2048,
          max_defaults_length: 4096,
        },
      });
      const order = Object.keys(JSON.parse(text).branches);
      expect(order).toEqual(["SNAPSHOT", "25.12", "24.10", "23.05", "22.03", "21.02"]);
    });

    it("answers a repeat from cache without asking upstream again", async () => {
      const first = await get(served, "/json/v1/overview.json");
      upstream.requests.length = 0;
      const second = await get(served, "/json/v1/overview.json");
      expect(second.text).toBe(first.text);
      expect(upstream.requests).toEqual([]);
    });
  });

  describe("/json/v1/{path}/targets/{t}/{s}/index.json", () => {
    it("merges a 24.10 target's opkg index with its kernel modules", async () => {
      const { status, text } = await get(
        served,
        "/json/v1/releases/24.10.0/targets/ath79/generic/index.json",
      );
      expect(status).toBe(200);
      expect(JSON.parse(text)).toEqual({
        architecture: "mips_24kc",
        packages: {
          "ath10k-firmware-qca988x-ct": "2024.09.30~6d1fdc62-r1",
          "base-files": "1630~6df0e3d02a",
          libubox: "2024.03.29~eb9bcb64-r1",
          "wpad-basic-mbedtls": "2024.09.15~5ace39b0-r2",
          kernel: "6.6.73~2974fbe1fa59be88f13eb8abeac8c10b-r1",
          "kmod-ath9k": "6.6.73.6.12.6-r1",
          "kmod-usb2": "6.6.73-r1",
        },
      });
      expect(upstream.requests.map((request) => request.path)).toEqual([
        "/releases/24.10.0/targets/ath79/generic/packages/index.json",
        "/releases/24.10.0/targets/ath79/generic/packages/Packages",
        "/releases/24.10.0/targets/ath79/generic/profiles.json",
        "/releases/24.10.0/targets/ath79/generic/kmods/6.6.73-1-2974fbe1fa59be88f13eb8abeac8c10b/index.json",
        "/releases/24.10.0/targets/ath79/generic/kmods/6.6.73-1-2974fbe1fa59be88f13eb8abeac8c10b/Packages",
      ]);
    });

    it("serves a snapshot's apk index without its version, modules merged", async () => {
      const { status, text } = await get(
        served,
        "/json/v1/snapshots/targets/ath79/generic/index.json",
      );
      expect(status).toBe(200);
      expect(JSON.parse(text)).toEqual({
        architecture: "mips_24kc",
        packages: {
          "apk-mbedtls": "2.14.9-r1",
          "base-files": "1675~22d1e6cd26",
          libubox: "2025.01.20~3a4f4b5c-r1",
          "wpad-basic-mbedtls": "2025.01.10~0a6c5b4d-r1",
          kernel: "6.6.74~75d549fb5cfabb78b8a91bec585e5ecb-r1",
          "kmod-ath9k": "6.6.74.6.12.6-r1",
          "kmod-gpio-button-hotplug": "6.6.74-r5",
        },
      });
      expect(upstream.requests.map((request) => request.path)).not.toContain(
        "/snapshots/targets/ath79/generic/packages/Packages",
      );
    });

    it("leaves kernel modules out for 23.05.5, which still lists them itself", async () => {
      upstream.addFile(
        "releases/23.05.5/targets/x86/64/packages/Packages",
        "Package: base-files\nVersion: 1562-r24106-10cc5fcd00\nArchitecture: x86_64\n\n" +
          "Package: kmod-e1000\nVersion: 5.15.167-1\nArchitecture: x86_64\n",
      );
      upstream.addFile(
        "releases/23.05.5/targets/x86/64/kmods/5.15.167-1-abc/Packages",
        "Package: kmod-igc\nVersion: 5.15.167-1\nArchitecture: x86_64\n",
      );
      const { status, body } = await getJson(
        served,
        "/json/v1/releases/23.05.5/targets/x86/64/index.json",
      );
      expect(status).toBe(200);
      expect(body).toEqual({
        architecture: "x86_64",
        packages: { "base-files": "1562-r24106-10cc5fcd00", "kmod-e1000": "5.15.167-1" },
      });
      const asked = upstream.requests.map((request) => request.path);
      expect(asked).not.toContain("/releases/23.05.5/targets/x86/64/profiles.json");
    });

    it("serves the base index alone when profiles.json names no kernel", async () => {
      upstream.addFile(
        "releases/24.10.0/targets/x86/64/packages/index.json",
        JSON.stringify({ version: 2, architecture: "x86_64", packages: { "base-files": "1" } }),
      );
      const served2 = await start();
      try {
        const { body: fresh } = await getJson(
          served2,
          "/json/v1/releases/24.10.0/targets/x86/64/index.json",
        );
        expect(fresh).toEqual({ architecture: "x86_64", packages: { "base-files": "1" } });
      } finally {
        await served2.close();
      }
    });

    it("answers {} for a target upstream has no index for", async () => {
      const { status, text } = await get(
        served,
        "/json/v1/releases/24.10.0/targets/ramips/mt7621/index.json",
      );
      expect(status).toBe(200);
      expect(text).toBe("{}");
    });
  });

  describe("/json/v1/{path}/packages/{arch}-index.json", () => {
    it("merges the opkg feeds named in feeds.conf into one flat map", async () => {
      const { status, text } = await get(
        served,
        "/json/v1/releases/24.10.0/packages/mips_24kc-index.json",
      );
      expect(status).toBe(200);
      expect(JSON.parse(text)).toEqual({
        busybox: "1.36.1-r2",
        "libustream-mbedtls": "2024.07.28~99bd3d2b-r1",
        opkg: "2024.10.16~38eccbb1-r1",
        owut: "2024.12.04~2d67f7ea-r1",
        tcpdump: "4.99.5-r1",
        luci: "25.019.66541~6e2ac5a",
        "luci-app-attendedsysupgrade": "25.019.66541~6e2ac5a",
      });
      const asked = upstream.requests.map((request) => request.path);
      expect(asked[0]).toBe("/releases/24.10.0/packages/mips_24kc/feeds.conf");
      // telephony is named but has no index: both formats were tried, nothing added.
      expect(asked).toContain("/releases/24.10.0/packages/mips_24kc/telephony/index.json");
      expect(asked).toContain("/releases/24.10.0/packages/mips_24kc/telephony/Packages");
    });

    it("merges apk feeds", async () => {
      const { body } = await getJson(served, "/json/v1/snapshots/packages/mips_24kc-index.json");
      expect(body).toEqual({
        busybox: "1.37.0-r2",
        "libustream-mbedtls": "2025.01.08~7cfb3b3f-r1",
        owut: "2025.01.19~1b6b4b5c-r1",
        tcpdump: "4.99.5-r2",
        luci: "25.020.12345~abcdef0",
        "luci-app-attendedsysupgrade": "25.020.12345~abcdef0",
      });
    });

    it("answers {} for an architecture without feeds.conf", async () => {
      const { status, text } = await get(
        served,
        "/json/v1/releases/24.10.0/packages/x86_64-index.json",
      );
      expect(status).toBe(200);
      expect(text).toBe("{}");
    });
  });

  describe("/json/v1/{path}/targets/{t}/{s}/{profile}.json", () => {
    it("merges profiles.json's top level with the profile, id and build_at", async () => {
      const { status, body } = await getJson(
        served,
        "/json/v1/releases/24.10.0/targets/ath79/generic/tplink_archer-c7-v5.json",
      );
      const { profiles, ...top } = fixtureJson(
        "releases/24.10.0/targets/ath79/generic/profiles.json",
      );
      expect(status).toBe(200);
      expect(body).toEqual({
        ...top,
        ...profiles["tplink_archer-c7-v5"],
        id: "tplink_archer-c7-v5",
        build_at: "2024-07-15T22:14:18.000000Z",
      });
      expect(body).not.toHaveProperty("profiles");
      expect(body.linux_kernel).toEqual({
        release: "1",
        vermagic: "2974fbe1fa59be88f13eb8abeac8c10b",
        version: "6.6.73",
      });
    });

    it("serves snapshot profiles, with a text source_date_epoch", async () => {
      const { body } = await getJson(
        served,
        "/json/v1/snapshots/targets/testtarget/testsubtarget/generic.json",
      );
      expect(body).toMatchObject({
        id: "generic",
        version_code: "r15666-8019c54d8a",
        source_date_epoch: "1612136917",
        build_at: "2021-01-31T23:48:37.000000Z",
      });
    });

    it.each([
      "/json/v1/releases/24.10.0/targets/ath79/generic/nope.json",
      "/json/v1/releases/24.10.0/targets/ath79/generic/tplink,archer-c7-v5.json",
      "/json/v1/releases/24.10.0/targets/ramips/mt7621/generic.json",
    ])("answers {} for %s", async (path) => {
      const { status, text } = await get(served, path);
      expect(status).toBe(200);
      expect(text).toBe("{}");
    });
  });

  describe("paths that name nothing", () => {
    it.each([
      "/json/v1/releases/1.2.3/targets/testtarget/testsubtarget/index.json",
      "/json/v1/releases/foo/targets/ath79/generic/index.json",
      "/json/v1/elsewhere/targets/ath79/generic/index.json",
      "/json/v1/releases/24.10.0/targets/ath79/index.json",
      "/json/v1/releases/24.10.0/packages/mips_24kc/base/index.json",
      "/json/v1/releases/24.10.0/targets/..%2f..%2f/generic/index.json",
      "/json/v1/releases/24.10.0/targets/%2e%2e/generic/x/index.json",
      "/json/v1/releases/24.10.0/targets/a%5cb/generic/index.json",
      "/json/v1/releases/24.10.0/targets/%ZZ/generic/index.json",
      "/json/v1/releases/24.10.0/packages/..%2f..%2f.versions.json-index.json",
      "/json/v1/nothing.json",
    ])("%s → 404 without asking upstream", async (path) => {
      const res = await rawRequest(served.url, path);
      expect(res.status).toBe(404);
      expect(JSON.parse(res.body.toString())).toEqual({ detail: "Not Found" });
      expect(upstream.requests).toEqual([]);
    });
  });

  it("documents every route in the OpenAPI document", async () => {
    const { body } = await getJson(served, "/openapi.json");
    expect(Object.keys(body.paths)).toEqual(
      expect.arrayContaining([
        "/json/v1/latest.json",
        "/json/v1/branches.json",
        "/json/v1/overview.json",
        "/json/v1/{path}/targets/{target}/{subtarget}/index.json",
        "/json/v1/{path}/targets/{target}/{subtarget}/{profile}.json",
        "/json/v1/{path}/packages/{arch}-index.json",
      ]),
    );
    expect(body.components.schemas.Overview.properties.server.required).toEqual([
      "version",
      "contact",
      "allow_defaults",
      "repository_allow_list",
      "max_custom_rootfs_size_mb",
      "max_defaults_length",
    ]);
  });
});

describe("freshness and failures", () => {
  beforeEach(async () => {
    upstream = await startFakeUpstream();
  });

  afterEach(async () => {
    await upstream.close();
  });

  it("shows a new upstream release once the metadata cache revalidates", async () => {
    let clock = 0;
    const served = await start({ ttlMs: 50, now: () => clock });
    try {
      expect((await getJson(served, "/json/v1/latest.json")).body).toEqual({ latest: LATEST });
      upstream.addFile(
        ".versions.json",
        JSON.stringify({
          stable_version: "24.10.1",
          oldstable_version: "23.05.5",
          upcoming_version: null,
          versions_list: ["23.05.5", "24.10.0", "24.10.1"],
        }),
      );
      upstream.addFile("releases/24.10.1/.targets.json", '{"x86/64":"x86_64"}');
      clock += 50;
      expect((await getJson(served, "/json/v1/latest.json")).body).toEqual({
        latest: ["24.10.1", "23.05.5"],
      });
      const overview = (await getJson(served, "/json/v1/overview.json")).body;
      expect(overview.latest).toEqual(["24.10.1", "23.05.5"]);
      expect(overview.branches["24.10"].versions).toEqual(["24.10.1", "24.10.0", "24.10-SNAPSHOT"]);
      expect(overview.branches["24.10"].targets).toEqual({ "x86/64": "x86_64" });
      expect(overview.branches["25.12"].versions).toEqual(["25.12-SNAPSHOT"]);
    } finally {
      await served.close();
    }
  });

  it("reads the targets of each branch's versions, newest first, until one is published", async () => {
    const served = await start();
    try {
      await get(served, "/json/v1/branches.json");
    } finally {
      await served.close();
    }
    const asked = upstream.requests.map((request) => request.path).sort();
    expect(asked).toEqual(
      [
        "/.versions.json",
        "/snapshots/.targets.json",
        "/releases/25.12.0-rc1/.targets.json",
        "/releases/25.12-SNAPSHOT/.targets.json",
        "/releases/24.10.0/.targets.json",
        "/releases/23.05.5/.targets.json",
        "/releases/22.03.7/.targets.json",
        "/releases/22.03-SNAPSHOT/.targets.json",
        "/releases/21.02-SNAPSHOT/.targets.json",
      ].sort(),
    );
  });

  it("derives an index afresh once upstream's file changes", async () => {
    let clock = 0;
    const served = await start({ ttlMs: 50, now: () => clock });
    const path = "/json/v1/releases/24.10.0/packages/mips_24kc-index.json";
    try {
      expect((await getJson(served, path)).body.tcpdump).toBe("4.99.5-r1");
      upstream.addFile(
        "releases/24.10.0/packages/mips_24kc/packages/Packages",
        "Package: tcpdump\nVersion: 4.99.5-r2\nArchitecture: mips_24kc\n",
      );
      expect((await getJson(served, path)).body.tcpdump).toBe("4.99.5-r1");
      clock += 50;
      const { body } = await getJson(served, path);
      expect(body.tcpdump).toBe("4.99.5-r2");
      expect(body).not.toHaveProperty("owut");
    } finally {
      await served.close();
    }
  });

  it("derives an index once while upstream's files stay the same", async () => {
    let reads = 0;
    const index = Object.freeze({
      version: 2,
      architecture: "x86_64",
      get packages() {
        reads++;
        return { "base-files": "1" };
      },
    });
    const client: JsonApiDeps["client"] = {
      getJson: (async (path: string) =>
        path === "snapshots/targets/x86/64/packages/index.json"
          ? index
          : undefined) as MetadataClient["getJson"],
      getText: async () => undefined,
    };
    const served = await start({ client });
    try {
      for (let i = 0; i < 3; i++) {
        const { body } = await getJson(served, "/json/v1/snapshots/targets/x86/64/index.json");
        expect(body).toEqual({ architecture: "x86_64", packages: { "base-files": "1" } });
      }
      expect(reads).toBe(1);
    } finally {
      await served.close();
    }
  });

  it.each([
    "/json/v1/latest.json",
    "/json/v1/branches.json",
    "/json/v1/overview.json",
    "/json/v1/releases/24.10.0/targets/ath79/generic/index.json",
    "/json/v1/releases/24.10.0/packages/mips_24kc-index.json",
    "/json/v1/releases/24.10.0/targets/ath79/generic/tplink_archer-c7-v5.json",
  ])("%s answers 503 when upstream is down and nothing is cached", async (path) => {
    const served = await start();
    try {
      await upstream.setDown(true, "refuse");
      const { status, body, res } = await getJson(served, path);
      expect(status).toBe(503);
      expect(body).toMatchObject({ status: 503, title: "Service Unavailable" });
      expect(body.detail).toMatch(
        /^Upstream metadata unavailable: http:\/\/127\.0\.0\.1:\d+\/.+ \(connection refused\)$/,
      );
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
    } finally {
      await served.close();
    }
  });

  it("keeps serving what it has while upstream is down", async () => {
    let clock = 0;
    const served = await start({ ttlMs: 10, now: () => clock });
    try {
      const before = await get(served, "/json/v1/overview.json");
      await upstream.setDown(true, "status503");
      clock += 10;
      const during = await get(served, "/json/v1/overview.json");
      expect(during.status).toBe(200);
      expect(during.text).toBe(before.text);
    } finally {
      await served.close();
    }
  });
});
