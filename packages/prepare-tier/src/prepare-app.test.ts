import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { requestHash } from "@asu/contract";
import { undocumentedRoutes } from "@asu/http";
import { createLogger } from "@asu/observability";
import { DEFAULT_BRANCHES } from "@asu/openwrt-releases";
import { createMetadataClient, createOpenwrtCatalog, createPackageIndexes } from "@asu/upstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeUpstream, startFakeUpstream } from "../../../test/support/fake-upstream.ts";
import { type ServedApp, serveApp } from "../../../test/support/serve-app.ts";
import { uploadThenRead } from "../../../test/support/upload-then-read.ts";
import { createBuildCacheProbe } from "./build-cache-probe.ts";
import { createPrepareApp } from "./prepare-app.ts";

const silent = createLogger({
  service: "prepare-test",
  destination: new Writable({ write: (_chunk, _encoding, done) => done() }),
});

let upstream: FakeUpstream;
let prepare: ServedApp;
let buildTier: Server;
let builtHashes: Set<string>;
// The build-cache probe's clock: how long it believes an answer. Not 0,
// which lru-cache reads as "no start time".
let clock = 1_000_000;

async function startPrepare(
  options: { allowDefaults?: boolean; timeoutMs?: number; checkPackages?: boolean } = {},
) {
  const client = createMetadataClient({
    upstreamUrl: upstream.url,
    timeoutMs: options.timeoutMs ?? 2000,
  });
  const buildApiUrl = `http://127.0.0.1:${(buildTier.address() as AddressInfo).port}`;
  return serveApp(
    createPrepareApp({
      catalog: createOpenwrtCatalog({
        client,
        branches: DEFAULT_BRANCHES,
        missRefreshIntervalMs: 0,
      }),
      settings: {
        allow_defaults: options.allowDefaults ?? false,
        repository_allow_list: ["https://feed.example.org/openwrt"],
        max_custom_rootfs_size_mb: 1024,
        max_defaults_length: 20480,
      },
      isBuilt: createBuildCacheProbe({ buildApiUrl, timeoutMs: 500, now: () => clock }),
      logger: silent,
      ...(options.checkPackages
        ? { indexes: createPackageIndexes({ client, branches: DEFAULT_BRANCHES }) }
        : {}),
    }),
  );
}

beforeAll(async () => {
  upstream = await startFakeUpstream();
  builtHashes = new Set();
  // A stand-in build tier's POST /api/v1/build-cache: the probe asks about every hash.
  buildTier = createServer(async (req, res) => {
    if (req.method !== "POST") {
      res.writeHead(404).end();
      return;
    }
    let body = "";
    for await (const chunk of req) body += chunk;
    const { request_hashes: hashes } = JSON.parse(body) as { request_hashes: string[] };
    const available = Object.fromEntries(hashes.map((hash) => [hash, builtHashes.has(hash)]));
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ cache_available: available }));
  });
  await new Promise<void>((resolve) => buildTier.listen(0, "127.0.0.1", resolve));
  prepare = await startPrepare();
});

afterAll(async () => {
  await prepare?.close();
  await upstream?.close();
  buildTier?.closeAllConnections();
  buildTier?.close();
});

const seed = {
  version: "24.10.0",
  target: "ath79/generic",
  profile: "tplink_archer-c7-v5",
  packages: ["luci", "auc"],
  from_version: "23.05.0",
};

async function post(body: unknown, init: RequestInit = {}, base = prepare.url) {
  const res = await fetch(`${base}/api/v1/build/prepare`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...init,
  });
  const text = await res.text();
  return { res, status: res.status, body: text ? JSON.parse(text) : undefined } as {
    res: Response;
    status: number;
    body: any;
  };
}

describe("the prepare tier's OpenAPI document", () => {
  it("documents every route the tier mounts", async () => {
    const app = createPrepareApp({
      catalog: createOpenwrtCatalog({
        client: createMetadataClient({ upstreamUrl: upstream.url }),
        branches: DEFAULT_BRANCHES,
      }),
      settings: {
        allow_defaults: false,
        repository_allow_list: [],
        max_custom_rootfs_size_mb: 1024,
        max_defaults_length: 20480,
      },
      isBuilt: async () => false,
      logger: silent,
    });
    expect(undocumentedRoutes(app)).toEqual([]);
    const doc = (await (await app.request("/openapi.json")).json()) as any;
    const prepare = doc.paths["/api/v1/build/prepare"].post;
    expect(prepare.requestBody.content["application/json"].schema).toBeDefined();
    expect(prepare.responses["200"].content["application/json"].schema).toBeDefined();
  });
});

describe("POST /api/v1/build/prepare", () => {
  it("prepares the seed example: auc becomes owut, once", async () => {
    const { status, body } = await post(seed);
    expect(status).toBe(200);
    expect(body.status).toBe("prepared");
    expect(body.original_packages).toEqual(["luci", "auc"]);
    expect(body.resolved_packages).toEqual(["luci", "owut"]);
    expect(body.changes).toEqual([
      {
        type: "migration",
        action: "replace",
        from_package: "auc",
        to_package: "owut",
        reason: "Package renamed in 24.10",
        automatic: true,
      },
    ]);
    expect(body.prepared_request).toMatchObject({
      distro: "openwrt",
      version: "24.10.0",
      target: "ath79/generic",
      profile: "tplink_archer-c7-v5",
      packages: ["luci", "owut"],
      diff_packages: false,
      repositories_mode: "replace",
    });
    expect(body.prepared_request).not.toHaveProperty("from_version");
    expect(body.request_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(body.request_hash).toBe(
      requestHash(body.prepared_request, { skipPackageResolution: true }),
    );
    expect(body.request_hash).not.toBe(requestHash(body.prepared_request));
    expect(body.cache_available).toBe(false);
  });

  it("is idempotent: preparing the prepared request changes nothing", async () => {
    const first = await post(seed);
    const second = await post(first.body.prepared_request);
    expect(second.status).toBe(200);
    expect(second.body.changes).toEqual([]);
    expect(second.body.resolved_packages).toEqual(first.body.resolved_packages);
    expect(second.body.request_hash).toBe(first.body.request_hash);
  });

  it("reports cache_available when the build tier has the hash", async () => {
    const first = await post({ ...seed, packages: ["luci", "auc", "htop"] });
    expect(first.body.cache_available).toBe(false);
    builtHashes.add(first.body.request_hash);
    // "Not built" is believed for a second, then asked again.
    clock += 1000;
    expect((await post({ ...seed, packages: ["luci", "auc", "htop"] })).body.cache_available).toBe(
      false,
    );
    clock += 1;
    await expect
      .poll(
        async () =>
          (await post({ ...seed, packages: ["luci", "auc", "htop"] })).body.cache_available,
      )
      .toBe(true);
  });

  it("maps a board name to its profile", async () => {
    const { status, body } = await post({ ...seed, profile: "tplink,archer-c7-v5" });
    expect(status).toBe(200);
    expect(body.prepared_request.profile).toBe("tplink_archer-c7-v5");
  });

  it("builds generic for any profile on a generic-only target", async () => {
    const { status, body } = await post({
      version: "24.10.0",
      target: "x86/64",
      profile: "some-pc",
      packages: [],
    });
    expect(status).toBe(200);
    expect(body.prepared_request.profile).toBe("generic");
  });

  it("reports device rules", async () => {
    const { body } = await post({
      version: "24.10.0",
      target: "ath79/generic",
      profile: "tplink_archer-c6-v2",
      packages: ["luci"],
    });
    expect(body.resolved_packages).toContain("ipq-wifi-tplink_archer-c6-v2");
    expect(body.changes).toContainEqual(
      expect.objectContaining({
        type: "device",
        action: "add",
        to_package: "ipq-wifi-tplink_archer-c6-v2",
      }),
    );
  });

  it("ignores unknown fields", async () => {
    const { status } = await post({ ...seed, colour: "blue", nested: { a: 1 } });
    expect(status).toBe(200);
  });

  it("answers with CORS headers", async () => {
    const { res } = await post(seed, { headers: { Origin: "https://example.org" } });
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    const preflight = await fetch(`${prepare.url}/api/v1/build/prepare`, {
      method: "OPTIONS",
      headers: {
        Origin: "https://example.org",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-methods")).toContain("POST");
  });
});

describe("validation answers 400 with the contract's messages, in order", () => {
  const cases: [string, Record<string, unknown>, string][] = [
    [
      "defaults",
      { defaults: "echo hi", distro: "other" },
      "Handling `defaults` not enabled on server",
    ],
    [
      "repository",
      { repositories: { evil: "https://feed.example.org.evil.net/openwrt" }, distro: "other" },
      "Repository not allowed: https://feed.example.org.evil.net/openwrt",
    ],
    ["distro", { distro: "lede", version: "99.99.0" }, "Unsupported distro: lede"],
    ["branch", { version: "99.99.0" }, "Unsupported branch: 99.99.0"],
    ["version", { version: "24.10.99" }, "Unsupported version: 24.10.99"],
    [
      "target",
      { target: "nope/nope" },
      "Unsupported target: nope/nope. The requested target was either dropped, is still being built or is not supported by the selected version. Please check the forums or try again later.",
    ],
    [
      "profile",
      { profile: "no_such_device" },
      "Unsupported profile: no_such_device. The requested profile was either dropped or never existed. Please check the forums for more information.",
    ],
    ["from_version", { from_version: "99.99.0" }, "Unsupported from_version: 99.99.0"],
  ];
  it.each(cases)("%s", async (_name, change, detail) => {
    const { status, body } = await post({ ...seed, ...change });
    expect(status).toBe(400);
    expect(body).toEqual({ detail, status: 400 });
  });

  it("accepts an empty defaults string as absent", async () => {
    expect((await post({ ...seed, defaults: "" })).status).toBe(200);
  });

  it("accepts allowed repositories", async () => {
    const { status } = await post({
      ...seed,
      repositories: { extra: "https://feed.example.org/openwrt/24.10/packages" },
    });
    expect(status).toBe(200);
  });
});

describe("bad input answers 4xx, never 500", () => {
  it("malformed JSON → 422 json_invalid", async () => {
    const { status, body } = await post('{"version": ');
    expect(status).toBe(422);
    expect(body.detail[0].type).toBe("json_invalid");
  });

  it("empty body → 422 missing body", async () => {
    const { status, body } = await post("");
    expect(status).toBe(422);
    expect(body.detail).toEqual([
      { type: "missing", loc: ["body"], msg: "Field required", input: null },
    ]);
  });

  it("missing required fields → 422 Field required for each", async () => {
    const { status, body } = await post({ packages: [] });
    expect(status).toBe(422);
    const locs = body.detail.map((error: { loc: string[] }) => error.loc.join("."));
    expect(locs).toEqual(expect.arrayContaining(["body.version", "body.target", "body.profile"]));
    expect(body.detail.every((error: { msg: string }) => error.msg === "Field required")).toBe(
      true,
    );
  });

  it("wrong types → 422", async () => {
    const { status, body } = await post({ ...seed, packages: "luci" });
    expect(status).toBe(422);
    expect(body.detail[0]).toMatchObject({
      type: "list_type",
      loc: ["body", "packages"],
      msg: "Input should be a valid list",
    });
  });

  it("a JSON array body → 422", async () => {
    const { status } = await post([1, 2]);
    expect(status).toBe(422);
  });

  it("invalid patterns → 422", async () => {
    const { status, body } = await post({ ...seed, packages: ["luci; rm -rf /"] });
    expect(status).toBe(422);
    expect(body.detail[0].msg).toMatch(/^String should match pattern '/);
    expect(body.detail[0].loc).toEqual(["body", "packages", 0]);
  });

  it("absurd from_version pattern → 422", async () => {
    const { status, body } = await post({ ...seed, from_version: "../../etc/passwd" });
    expect(status).toBe(422);
    expect(body.detail[0].loc).toEqual(["body", "from_version"]);
  });

  it("rootfs_size_mb out of range → 422 with pydantic's words", async () => {
    const low = await post({ ...seed, rootfs_size_mb: 0 });
    expect(low.status).toBe(422);
    expect(low.body.detail[0].msg).toBe("Input should be greater than or equal to 1");
    const high = await post({ ...seed, rootfs_size_mb: 4096 });
    expect(high.body.detail[0].msg).toBe("Input should be less than or equal to 1024");
  });

  it("defaults longer than the limit → 422", async () => {
    const { status, body } = await post({ ...seed, defaults: "x".repeat(20481) });
    expect(status).toBe(422);
    expect(body.detail[0].msg).toBe("String should have at most 20480 characters");
  });

  it("a body over 1 MiB → 413", async () => {
    const { status, body } = await post({ ...seed, client: "x".repeat(1024 * 1024) });
    expect(status).toBe(413);
    expect(body.detail).toMatch(/larger than 1048576 bytes/);
  });

  it.each([
    ["with a Content-Length", false],
    ["chunked", true],
  ])(
    "a client that sends a whole 2.6 MB body before reading sees the 413 (%s)",
    async (_, chunked) => {
      const body = Buffer.from(
        JSON.stringify({ ...seed, packages: Array(120_000).fill("p".repeat(20)) }),
      );
      expect(body.length).toBeGreaterThan(2_600_000);
      // Spread out as on a slow uplink: the server must still be reading.
      const answer = await uploadThenRead(`${prepare.url}/api/v1/build/prepare`, body, {
        seconds: 0.5,
        chunked,
      });
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body).detail).toBe("Request body is larger than 1048576 bytes");
    },
  );
});

describe("upstream", () => {
  it("finds a new release without a restart", async () => {
    const before = await post({ ...seed, version: "24.10.1" });
    expect(before.status).toBe(400);
    upstream.addFile(
      ".versions.json",
      JSON.stringify({
        stable_version: "24.10.1",
        oldstable_version: "23.05.5",
        upcoming_version: null,
        versions_list: ["23.05.5", "24.10.0", "24.10.1"],
      }),
      { lastModified: new Date(Date.now() + 60_000) },
    );
    upstream.addFile(
      "releases/24.10.1/.targets.json",
      JSON.stringify({ "ath79/generic": "mips_24kc" }),
    );
    const profiles = await (
      await fetch(`${upstream.url}/releases/24.10.0/targets/ath79/generic/profiles.json`)
    ).text();
    upstream.addFile(
      "releases/24.10.1/targets/ath79/generic/profiles.json",
      profiles.replaceAll("24.10.0", "24.10.1"),
    );
    const after = await post({ ...seed, version: "24.10.1" });
    expect(after.status).toBe(200);
  });

  it("answers 503 with a clear detail when upstream is down and nothing is cached", async () => {
    const cold = await startPrepare({ timeoutMs: 300 });
    try {
      await upstream.setDown(true, "hang");
      const started = Date.now();
      const { status, body } = await post(seed, {}, cold.url);
      expect(status).toBe(503);
      expect(body.status).toBe(503);
      expect(body.detail).toMatch(/^Upstream metadata unavailable: .*\.versions\.json/);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await upstream.setDown(false);
      await cold.close();
    }
  });
});

describe("problems", () => {
  let checking: ServedApp;
  beforeAll(async () => {
    // Every feed of feeds.conf published, and an index for the device's old version.
    upstream.addFile(
      "releases/24.10.0/packages/mips_24kc/telephony/Packages",
      "Package: asterisk\nVersion: 20.11.0-r1\nArchitecture: mips_24kc\n",
    );
    upstream.addFile(
      "releases/23.05.5/targets/ath79/generic/packages/Packages",
      "Package: luci\nVersion: 23.051.66410~a505bb1\nArchitecture: all\n\n" +
        "Package: wireguard-legacy\nVersion: 1.0-r1\nArchitecture: mips_24kc\n",
    );
    checking = await startPrepare({ checkPackages: true });
  });
  afterAll(async () => {
    await checking?.close();
  });

  it("is empty when all is well", async () => {
    const { status, body } = await post(seed, {}, checking.url);
    expect(status).toBe(200);
    expect(body.problems).toEqual([]);
  });

  it("suggests luci for lcui", async () => {
    const { body } = await post({ ...seed, packages: ["lcui"] }, {}, checking.url);
    expect(body.problems).toEqual([
      {
        package: "lcui",
        reason: "not_found",
        detail: "No package index of 24.10.0 for this target has lcui",
        suggestions: ["luci"],
      },
    ]);
  });

  it("tells what the old version had from what never existed", async () => {
    const { body } = await post(
      { ...seed, packages: ["luci", "wireguard-legacy", "tcpdumb"], from_version: "23.05.5" },
      {},
      checking.url,
    );
    expect(body.problems.map((problem: any) => [problem.package, problem.reason])).toEqual([
      ["wireguard-legacy", "removed_in_version"],
      ["tcpdumb", "not_found"],
    ]);
    expect(body.problems[1].suggestions).toEqual(["tcpdump"]);
  });

  it("reports a pin the index contradicts", async () => {
    const { body } = await post(
      { ...seed, packages: [], packages_versions: { tcpdump: "1.0-r1" } },
      {},
      checking.url,
    );
    expect(body.problems).toEqual([
      {
        package: "tcpdump",
        reason: "version_unavailable",
        detail: "tcpdump 1.0-r1 is not available; the index has 4.99.5-r1",
        suggestions: [],
      },
    ]);
  });

  it("reports what a custom repository that cannot be read might have as unknown", async () => {
    const { body } = await post(
      {
        ...seed,
        packages: ["luci", "my-tool"],
        repositories: { mine: "https://feed.example.org/openwrt/nowhere" },
      },
      {},
      checking.url,
    );
    expect(body.problems).toHaveLength(1);
    expect(body.problems[0]).toMatchObject({ package: "my-tool", reason: "unknown" });
  });

  it("documents problems in the OpenAPI schema", async () => {
    const doc = (await (await fetch(`${checking.url}/openapi.json`)).json()) as any;
    const problem = doc.components.schemas.PackageProblem;
    expect(problem.properties.reason.enum).toEqual([
      "not_found",
      "version_unavailable",
      "removed_in_version",
      "unknown",
    ]);
    expect(doc.components.schemas.PrepareResponse.properties).toHaveProperty("problems");
  });
});

describe("service endpoints", () => {
  it("serves the OpenAPI document generated from the schemas", async () => {
    const doc = (await (await fetch(`${prepare.url}/openapi.json`)).json()) as any;
    const operation = doc.paths["/api/v1/build/prepare"].post;
    const schema = operation.requestBody.content["application/json"].schema;
    expect(JSON.stringify(schema)).toContain("from_version");
    expect(JSON.stringify(doc)).toContain("resolved_packages");
  });

  it("serves docs and health", async () => {
    expect((await fetch(`${prepare.url}/docs`)).status).toBe(200);
    expect(await (await fetch(`${prepare.url}/health`)).json()).toEqual({ status: "ok" });
  });
});
