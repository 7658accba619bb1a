import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  type BuildRequest,
  type BuildRequestInput,
  buildRequestSchema,
  DEFAULT_LIMITS,
} from "./build-request.ts";
import {
  manifestHash,
  packagesHash,
  packagesVersionsHash,
  requestedPackages,
  requestHash,
  requestHashInput,
  sha256Hex,
} from "./request-hash.ts";

const schema = buildRequestSchema(DEFAULT_LIMITS);
const parse = (body: BuildRequestInput): BuildRequest => schema.parse(body);

// Computed here with node:crypto, independently of sha256Hex.
const sha = (text: string) => createHash("sha256").update(Buffer.from(text, "utf8")).digest("hex");
const EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const EMPTY_DICT = sha("{}");

const archer = {
  version: "24.10.0",
  target: "ath79/generic",
  profile: "tplink_archer-a7-v5",
};

describe("sha256Hex and packagesHash (Python server's test vectors)", () => {
  it("hashes text as UTF-8", () => {
    expect(sha256Hex("test")).toBe(
      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    );
    expect(sha256Hex("")).toBe(EMPTY);
    expect(sha256Hex("包")).toBe(sha("包"));
  });

  it("hashes a package list", () => {
    expect(packagesHash(["test1", "test2"])).toBe(
      "57aab5949a36e66b535a8cb13e39e9e093181c9000c016990d7be9eb86a9b9e8",
    );
    expect(packagesHash([])).toBe(EMPTY);
  });

  it("ignores order, duplicates and one leading +", () => {
    const expected = sha("luci owut vim");
    expect(packagesHash(["vim", "+owut", "luci"])).toBe(expected);
    expect(packagesHash(["owut", "luci", "vim", "+vim", "luci"])).toBe(expected);
    expect(packagesHash(["++vim"])).toBe(sha("+vim"));
  });

  it("sorts by code point as Python does, not by UTF-16 unit", () => {
    // python3: get_packages_hash(["𝟎pkg", "ｚpkg", "+ｚpkg"])
    expect(packagesHash(["\u{1d7ce}pkg", "\uff5apkg", "+\uff5apkg"])).toBe(
      "25caa130dfa953f17bf4feefcce48d12a4d3d42a01a138f36584a9fa54b3e829",
    );
    expect(packagesHash(["\u{1d7ce}pkg", "\uff5apkg"])).toBe(sha("\uff5apkg \u{1d7ce}pkg"));
  });
});

describe("packagesVersionsHash", () => {
  it("hashes json.dumps(sort_keys=True) of the map", () => {
    expect(packagesVersionsHash({})).toBe(EMPTY_DICT);
    expect(packagesVersionsHash({ b: "2", a: "1" })).toBe(sha('{"a": "1", "b": "2"}'));
    // python3: sha256(json.dumps({"paquête": "1.0~ü-1", "包": "2.0", "luci": "git-24.1"}, sort_keys=True))
    expect(packagesVersionsHash({ paquête: "1.0~ü-1", 包: "2.0", luci: "git-24.1" })).toBe(
      "e022fefe372e0928c48838ae56b23d94dd22dee831b9447852beab1780d7ca06",
    );
  });
});

describe("manifestHash", () => {
  it("is the first 12 digits of H(manifest names)", () => {
    const manifest = { "base-files": "1", busybox: "2", "+x": "3" };
    expect(manifestHash(manifest)).toBe("b68a9cbfedca");
    expect(manifestHash(manifest)).toBe(sha("base-files busybox x").slice(0, 12));
  });
});

describe("requestHash: the contract's vectors", () => {
  it("hashes the minimal request of the Python tests", () => {
    const req = parse({
      distro: "test",
      version: "test",
      target: "testtarget/testsubtarget",
      profile: "test",
      packages: ["test"],
    });
    expect(requestHash(req)).toBe(
      "525e19496bd8d47b9b63aa5fb2b2f5da467558893d39a42eb32210007fd57800",
    );
    expect(requestHashInput(req)).toBe(
      `testtesttesttarget/testsubtargettest${sha("test")}${EMPTY_DICT}False${EMPTY}None[]{}replace`,
    );
  });

  const diffBody = {
    version: "1.2.3",
    target: "testtarget/testsubtarget",
    profile: "testprofile",
    packages: ["test1", "zzz", "test2", "aaa"],
  };

  it("hashes diff_packages true and false differently, in any package order", () => {
    const withDiff = "1c4a79c6b711a576996cf9a5e7046a4581008c4466574096266f0e6ea4208fbc";
    const withoutDiff = "c5a849e05b60611b465042594fc3489a44f7695c3d09e36433a577ee772ad7b7";
    const sorted = [...diffBody.packages].sort();
    expect(requestHash(parse({ ...diffBody, diff_packages: true }))).toBe(withDiff);
    expect(requestHash(parse({ ...diffBody, packages: sorted, diff_packages: true }))).toBe(
      withDiff,
    );
    expect(requestHash(parse({ ...diffBody, diff_packages: false }))).toBe(withoutDiff);
    expect(requestHash(parse({ ...diffBody, packages: sorted }))).toBe(withoutDiff);
  });

  it("hashes defaults by their sha256", () => {
    const req = parse({ ...diffBody, packages: [], defaults: "echo" });
    expect(requestHash(req)).toBe(
      "ba50558496f8fead41e8d5bc72afd1ad7d27bc053afb550a8bf6ee3bbcc64952",
    );
  });
});

describe("requestHash: own vectors (expected values from python3 running the server's formula)", () => {
  it("prints repositories as a Python dict, choosing quotes per URL", () => {
    const req = parse({
      ...archer,
      repositories: {
        quoted: "https://example.com/it's/feed",
        both: `https://example.com/a'b"c`,
        plain: "https://example.com/x",
      },
    });
    const printed = `{'quoted': "https://example.com/it's/feed", 'both': 'https://example.com/a\\'b"c', 'plain': 'https://example.com/x'}`;
    expect(requestHashInput(req)).toBe(
      `openwrt24.10.0ath79/generictplink_archer-a7-v5${EMPTY}${EMPTY_DICT}False${EMPTY}None[]${printed}replace`,
    );
    expect(requestHash(req)).toBe(
      "54c304c5a0103a3011f51863d950b76c5637c4ea716c51fd8df8ed6783945d31",
    );
  });

  it("prints PEM keys with their newlines escaped", () => {
    const pem =
      "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n";
    const usign = "RWSrHfFmlHslUcLbXFIRp+eEikWF9z1N77IJiX5Bt/nJd1a/x+L+SU89";
    const req = parse({ ...archer, repository_keys: [pem, usign] });
    expect(requestHashInput(req)).toContain(
      `['-----BEGIN PUBLIC KEY-----\\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\\n-----END PUBLIC KEY-----\\n', '${usign}']{}replace`,
    );
    expect(requestHash(req)).toBe(
      "7fabbe1abc1fcfda8c49bd5b87dc43bc7d569a03df679ae15bee2766574f817e",
    );
  });

  it("takes the names of a non-empty packages_versions instead of packages", () => {
    const versions = { paquête: "1.0~ü-1", 包: "2.0", luci: "git-24.1" };
    const req = parse({ ...archer, packages: ["ignored"], packages_versions: versions });
    expect(requestHash(req)).toBe(
      "d911916c1bb0b5a286e9d408c742457950659470e53348d740353da2e47f7b11",
    );
    const names = sha(["luci", "paquête", "包"].join(" "));
    expect(requestHashInput(req)).toContain(`${names}${packagesVersionsHash(versions)}False`);
    expect(
      requestHash(parse({ ...archer, packages: ["other"], packages_versions: versions })),
    ).toBe(requestHash(req));
  });

  const full: BuildRequestInput = {
    ...archer,
    version_code: "r28427-6df0e3d02a",
    packages: ["luci", "+owut"],
    diff_packages: true,
    filesystem: "ext4",
    defaults: "echo 'hi'\nwifi\n",
    rootfs_size_mb: 256,
    repositories: { custom: "https://feed.example.org/packages" },
    repositories_mode: "append",
    repository_keys: ["RWSrHfFmlHslUcLbXFIRp+eEikWF9z1N77IJiX5Bt/nJd1a/x+L+SU89"],
    client: "luci/git-22.073",
  };

  it("covers every field in the Python order", () => {
    const req = parse(full);
    expect(requestHashInput(req)).toBe(
      [
        "openwrt",
        "24.10.0",
        "r28427-6df0e3d02a",
        "ath79/generic",
        "tplink_archer-a7-v5",
        sha("luci owut"),
        EMPTY_DICT,
        "True",
        "ext4",
        sha("echo 'hi'\nwifi\n"),
        "256",
        "['RWSrHfFmlHslUcLbXFIRp+eEikWF9z1N77IJiX5Bt/nJd1a/x+L+SU89']",
        "{'custom': 'https://feed.example.org/packages'}",
        "append",
      ].join(""),
    );
    expect(requestHash(req)).toBe(
      "313388c15802f176242fffa2f59343bd6cd624ea7acb0fe539a5a4c74ba11a6b",
    );
  });

  it("changes with each field that names the build, not with client", () => {
    const base = requestHash(parse(full));
    const changes: Partial<BuildRequestInput>[] = [
      { distro: "other" },
      { version: "24.10.1" },
      { version_code: "" },
      { target: "ath79/nand" },
      { profile: "other" },
      { packages: ["luci"] },
      { packages_versions: { luci: "1" } },
      { diff_packages: false },
      { filesystem: "squashfs" },
      { filesystem: null },
      { defaults: "echo" },
      { defaults: null },
      { rootfs_size_mb: 512 },
      { rootfs_size_mb: null },
      { repositories: {} },
      { repositories_mode: "replace" },
      { repository_keys: [] },
    ];
    const hashes = changes.map((change) => requestHash(parse({ ...full, ...change })));
    for (const hash of hashes) expect(hash).not.toBe(base);
    expect(new Set(hashes).size).toBe(hashes.length);
    expect(requestHash(parse({ ...full, client: "owut/1.0" }))).toBe(base);
  });

  it("treats empty defaults as absent and a comma in profile as underscore", () => {
    expect(requestHash(parse({ ...archer, defaults: "" }))).toBe(requestHash(parse(archer)));
    const comma = { ...parse(archer), profile: "tplink,archer-a7-v5" };
    expect(requestHash(comma)).toBe(requestHash(parse(archer)));
  });
});

describe("requestHash with skipPackageResolution", () => {
  it("appends |skip_package_resolution to the hash input", () => {
    const req = parse({
      distro: "test",
      version: "test",
      target: "testtarget/testsubtarget",
      profile: "test",
      packages: ["test"],
    });
    const plain = requestHashInput(req);
    expect(requestHashInput(req, { skipPackageResolution: true })).toBe(
      `${plain}|skip_package_resolution`,
    );
    expect(requestHash(req, { skipPackageResolution: true })).toBe(
      "d877b5c59f1ae22181464b9936ee31e6176754783a9d7b20a734030336891bc7",
    );
    expect(requestHash(req, { skipPackageResolution: false })).toBe(requestHash(req));
  });

  it("never collides with the same body resolved on the server", () => {
    const req = parse(archer);
    expect(requestHash(req, { skipPackageResolution: true })).not.toBe(requestHash(req));
  });
});

describe("requestedPackages and the skip variant", () => {
  const base = {
    distro: "openwrt",
    version: "24.10.0",
    version_code: "",
    target: "ath79/generic",
    profile: "tplink_archer-c7-v5",
    diff_packages: false,
    filesystem: null,
    defaults: null,
    rootfs_size_mb: null,
    repository_keys: [],
    repositories: {},
    repositories_mode: "replace" as const,
  };

  it("lets pinned names replace packages for legacy requests, as Python does", () => {
    expect(requestedPackages({ packages: ["a", "b"], packages_versions: { c: "1" } })).toEqual([
      "c",
    ]);
    expect(requestedPackages({ packages: ["a", "b"], packages_versions: {} })).toEqual(["a", "b"]);
  });

  it("builds packages plus pinned names for prepared requests", () => {
    const options = { skipPackageResolution: true };
    expect(
      requestedPackages({ packages: ["luci", "owut"], packages_versions: { luci: "1" } }, options),
    ).toEqual(["luci", "owut"]);
    expect(requestedPackages({ packages: ["a"], packages_versions: { b: "2" } }, options)).toEqual([
      "a",
      "b",
    ]);
  });

  it("gives prepared requests that differ only in unpinned packages different hashes", () => {
    const options = { skipPackageResolution: true };
    const pinned = { luci: "25.0" };
    const withOwut = { ...base, packages: ["luci", "owut"], packages_versions: pinned };
    const without = { ...base, packages: ["luci"], packages_versions: pinned };
    expect(requestHash(withOwut, options)).not.toBe(requestHash(without, options));
    // The legacy formula ignores packages when pins exist, exactly like Python.
    expect(requestHash(withOwut)).toBe(requestHash(without));
  });
});
