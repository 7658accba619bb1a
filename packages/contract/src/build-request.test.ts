import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CONTRACT } from "../../../test/support/contract-tables.ts";
import {
  buildRequestSchema,
  DEFAULT_LIMITS,
  FILESYSTEMS,
  PATTERNS,
  prepareRequestSchema,
  REQUEST_BOUNDS,
} from "./build-request.ts";

interface Fixture {
  valid: { body: Record<string, unknown>; parsed: Record<string, unknown> }[];
}

// Bodies that pydantic accepted, with its model_dump(); see "source" in the file.
const fixture: Fixture = JSON.parse(
  readFileSync(new URL("./fixtures/build-request-pydantic.json", import.meta.url), "utf8"),
);

type Ranges = [number, number][];
// Code points that pydantic's `\w` and `\S` take; see "source" in the file.
const classes: { word_or_punct: Ranges; non_space: Ranges; unassigned: Ranges } = JSON.parse(
  readFileSync(new URL("./fixtures/pydantic-unicode-classes.json", import.meta.url), "utf8"),
);

const schema = buildRequestSchema(DEFAULT_LIMITS);
const base = { version: "23.05.4", target: "ath79/generic", profile: "tplink_archer-a7-v5" };

function accepts(field: string, value: unknown, limits = DEFAULT_LIMITS): boolean {
  return buildRequestSchema(limits).safeParse({ ...base, [field]: value }).success;
}

describe("buildRequestSchema: what pydantic accepts", () => {
  it.each(fixture.valid.map((c) => [c.body, c.parsed] as const))(
    "parses %j like pydantic",
    (body, parsed) => {
      // The Python router, not its model, turns "," into "_" in profile.
      const expected = { ...parsed, profile: String(parsed.profile).replaceAll(",", "_") };
      expect(schema.parse(body)).toStrictEqual(expected);
    },
  );

  it("fills every default for a minimal body", () => {
    expect(schema.parse(base)).toStrictEqual({
      distro: "openwrt",
      version: "23.05.4",
      version_code: "",
      target: "ath79/generic",
      profile: "tplink_archer-a7-v5",
      packages: [],
      packages_versions: {},
      diff_packages: false,
      defaults: null,
      rootfs_size_mb: null,
      filesystem: null,
      repositories: {},
      repositories_mode: "replace",
      repository_keys: [],
      client: null,
    });
  });

  it("drops unknown fields and reads ',' in profile as '_'", () => {
    const parsed = schema.parse({ ...base, profile: "tplink,archer-a7-v5", request_hash: "x" });
    expect(parsed.profile).toBe("tplink_archer-a7-v5");
    expect(parsed).not.toHaveProperty("request_hash");
  });

  it("keeps packages as sent, including a leading +", () => {
    const packages = ["+luci", "vim", "+owut", "vim"];
    expect(schema.parse({ ...base, packages }).packages).toEqual(packages);
    expect(accepts("packages", ["+"])).toBe(true);
    expect(accepts("packages", ["++luci"])).toBe(false);
    expect(accepts("packages", ["luci+"])).toBe(false);
    expect(accepts("packages", ["lu+ci"])).toBe(false);
  });
});

describe("field patterns", () => {
  it("P takes letters and digits of any script, marks, '_', '.', ',', '-'", () => {
    for (const name of [
      "paquête",
      "пакет",
      "包",
      "١٢٣",
      "e\u0301",
      "कि",
      "a_b.c,d-e",
      "",
      "\u200d",
    ]) {
      expect(PATTERNS.name.regex.test(name), name).toBe(true);
    }
  });

  it("P refuses punctuation, spaces, superscripts and a trailing newline", () => {
    for (const name of ["a b", "a/b", "a+b", "a:b", "²", "½", "·", "😀", "a\n", "a\t", "\u00a0"]) {
      expect(PATTERNS.name.regex.test(name), name).toBe(false);
    }
  });

  it("target is word/word", () => {
    for (const target of ["ath79/generic", "x86/64", "/", "mediatek/mt7622"]) {
      expect(accepts("target", target), target).toBe(true);
    }
    for (const target of ["ath79", "a/b/c", "a-b/c", "a.b/c", "ath79/generic\n"]) {
      expect(accepts("target", target), target).toBe(false);
    }
  });

  it("package versions also take '+' and '~'", () => {
    const ok = { vim: "9.1.0-r1", py: "3.11.9+x~rc1,2", z: "" };
    expect(schema.parse({ ...base, packages_versions: ok }).packages_versions).toEqual(ok);
    expect(accepts("packages_versions", { vim: "1:2" })).toBe(false);
    expect(accepts("packages_versions", { "+vim": "1" })).toBe(false);
  });

  it("repository names are non-empty word, '.', '-'", () => {
    expect(accepts("repositories", { "my.feed-1_x": "https://x" })).toBe(true);
    for (const name of ["", "a,b", "a b", "a/b"]) {
      expect(accepts("repositories", { [name]: "https://x" }), name).toBe(false);
    }
  });

  it("repository URLs are http(s) without white space", () => {
    for (const url of ["https://x", "http://x/y?z=1", "https://a\ufeffb", `https://x/'"`]) {
      expect(accepts("repositories", { feed: url }), url).toBe(true);
    }
    for (const url of [
      "ftp://x",
      "https://",
      "HTTPS://x",
      "https://a b",
      "https://a\u0085b",
      "x",
    ]) {
      expect(accepts("repositories", { feed: url }), url).toBe(false);
    }
  });

  // A byte a code point: a Set of a million numbers takes seconds to fill.
  const inRanges = (ranges: Ranges) => {
    const marks = new Uint8Array(0x110000);
    for (const [from, to] of ranges) marks.fill(1, from, to + 1);
    return { has: (cp: number) => marks[cp] === 1 };
  };

  it("agrees with pydantic on every code point it has assigned", () => {
    const unassigned = inRanges(classes.unassigned);
    const word = inRanges(classes.word_or_punct);
    const nonSpace = inRanges(classes.non_space);
    const wrong: string[] = [];
    let checked = 0;
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if ((cp >= 0xd800 && cp <= 0xdfff) || unassigned.has(cp)) continue;
      checked++;
      const ch = String.fromCodePoint(cp);
      if (PATTERNS.name.regex.test(ch) !== word.has(cp)) wrong.push(`P U+${cp.toString(16)}`);
      if (PATTERNS.repositoryUrl.regex.test(`https://${ch}`) !== nonSpace.has(cp)) {
        wrong.push(`\\S U+${cp.toString(16)}`);
      }
    }
    expect(checked).toBeGreaterThan(290_000);
    expect(wrong).toEqual([]);
  });

  it("shows Python's pattern texts", () => {
    expect(PATTERNS.name.python).toBe("^[\\w.,-]*$");
    expect(PATTERNS.target.python).toBe("^[\\w]*/[\\w]*$");
    expect(PATTERNS.packageVersion.python).toBe("^[\\w+.,~-]*$");
    expect(PATTERNS.repositoryName.python).toBe("^[\\w.-]+$");
    expect(PATTERNS.repositoryUrl.python).toBe("^https?://\\S+$");
  });
});

describe("limits", () => {
  it("counts defaults in code points, as pydantic does", () => {
    expect(accepts("defaults", "\u{1f4a9}".repeat(20480))).toBe(true);
    expect(accepts("defaults", "#".repeat(20480))).toBe(true);
    expect(accepts("defaults", "#".repeat(20481))).toBe(false);
    const limits = { max_custom_rootfs_size_mb: 1024, max_defaults_length: 3 };
    expect(accepts("defaults", "\u{1f4a9}\u{1f4a9}\u{1f4a9}", limits)).toBe(true);
    expect(accepts("defaults", "abcd", limits)).toBe(false);
    expect(accepts("defaults", "", limits)).toBe(true);
    expect(accepts("defaults", null, limits)).toBe(true);
  });

  it("bounds rootfs_size_mb by 1 and the server maximum", () => {
    expect(accepts("rootfs_size_mb", 1)).toBe(true);
    expect(accepts("rootfs_size_mb", 1024)).toBe(true);
    expect(accepts("rootfs_size_mb", 0)).toBe(false);
    expect(accepts("rootfs_size_mb", 1025)).toBe(false);
    const limits = { max_custom_rootfs_size_mb: 4096, max_defaults_length: 20480 };
    expect(accepts("rootfs_size_mb", 4096, limits)).toBe(true);
    expect(accepts("rootfs_size_mb", 4097, limits)).toBe(false);
    expect(accepts("rootfs_size_mb", null)).toBe(true);
  });

  it("bounds the UTF-8 bytes of the package names, a separator each, whatever their script", () => {
    const max = REQUEST_BOUNDS.maxPackageBytes;
    // n names that add up to `total` bytes with their separators, mostly `unit`.
    const names = (n: number, unit: string, total: number) => {
      const perUnit = Buffer.byteLength(unit);
      return Array.from({ length: n }, (_, i) => {
        const rest = total / n - 1 - 4;
        return `${String(i).padStart(4, "0")}${"a".repeat(rest % perUnit)}${unit.repeat(Math.floor(rest / perUnit))}`;
      });
    };
    const refusal = (list: string[]) =>
      buildRequestSchema(DEFAULT_LIMITS)
        .safeParse({ ...base, packages: list })
        .error?.issues.map((issue) => issue.message);
    // ASCII: 8 names of 4096 bytes is the bound exactly; more is refused with its count.
    expect(accepts("packages", names(8, "a", max))).toBe(true);
    expect(refusal([...names(8, "a", max), "b"])).toEqual([
      `Value error, package names add up to ${max + 2} bytes, more than the ${max} a build can pass to the ImageBuilder`,
    ]);
    // "é" is two bytes, "ー" three, an astral letter four for two UTF-16 units.
    for (const unit of ["é", "ー", "\u{10400}"]) {
      const list = names(8, unit, max);
      expect(list.reduce((sum, name) => sum + Buffer.byteLength(name) + 1, 0)).toBe(max);
      expect(accepts("packages", list), unit).toBe(true);
      expect(refusal([...list, unit])?.[0], unit).toContain(
        `add up to ${max + Buffer.byteLength(unit) + 1} bytes`,
      );
    }
  });

  it("has the server's default limits", () => {
    expect(DEFAULT_LIMITS).toEqual({ max_custom_rootfs_size_mb: 1024, max_defaults_length: 20480 });
  });
});

describe("lax values, as pydantic takes them from JSON", () => {
  const diff = (value: unknown) => schema.safeParse({ ...base, diff_packages: value });
  const size = (value: unknown) => schema.safeParse({ ...base, rootfs_size_mb: value });

  it("reads booleans from words and 0/1", () => {
    for (const word of ["true", "TRUE", "Yes", "on", "t", "Y", "1", 1, true]) {
      expect(diff(word).data?.diff_packages, String(word)).toBe(true);
    }
    for (const word of ["false", "Off", "no", "f", "N", "0", 0, false]) {
      expect(diff(word).data?.diff_packages, String(word)).toBe(false);
    }
    for (const word of ["", " true", "1.0", "yes ", "maybe", 2, -1, 0.5, null, [], {}]) {
      expect(diff(word).success, String(word)).toBe(false);
    }
  });

  it("reads integers from whole numbers, numeric strings and booleans", () => {
    const cases: [unknown, number][] = [
      [12, 12],
      [12.0, 12],
      ["12", 12],
      [" 12\n", 12],
      ["+5", 5],
      ["1_000", 1000],
      ["12.00", 12],
      ["0012", 12],
      ["\u00a07\u0085", 7],
      [true, 1],
    ];
    for (const [input, expected] of cases) expect(size(input).data?.rootfs_size_mb).toBe(expected);
    for (const input of [
      "12.5",
      "12.",
      ".5",
      "1__0",
      "_1",
      "1_",
      "0x10",
      "1e3",
      "",
      "\ufeff12",
      [],
      {},
    ]) {
      expect(size(input).success, JSON.stringify(input)).toBe(false);
    }
    expect(size(12.5).success).toBe(false);
    expect(size(false).success).toBe(false);
  });

  it("does not turn numbers or booleans into strings", () => {
    expect(accepts("version", 23)).toBe(false);
    expect(accepts("client", 1)).toBe(false);
    expect(accepts("defaults", true)).toBe(false);
    expect(accepts("packages", [1])).toBe(false);
    expect(accepts("repository_keys", [null])).toBe(false);
  });

  it("does not take null for fields that are not nullable", () => {
    for (const field of [
      "distro",
      "version_code",
      "packages",
      "packages_versions",
      "repositories",
    ]) {
      expect(accepts(field, null), field).toBe(false);
    }
    expect(accepts("repositories_mode", null)).toBe(false);
  });
});

describe("enums", () => {
  it("takes each filesystem and null", () => {
    expect(FILESYSTEMS).toEqual(CONTRACT.filesystems);
    for (const fs of FILESYSTEMS) expect(accepts("filesystem", fs), fs).toBe(true);
    expect(accepts("filesystem", null)).toBe(true);
    expect(accepts("filesystem", "EXT4")).toBe(false);
    expect(accepts("filesystem", "zfs")).toBe(false);
  });

  it("takes append and replace", () => {
    expect(schema.parse({ ...base, repositories_mode: "append" }).repositories_mode).toBe("append");
    expect(accepts("repositories_mode", "merge")).toBe(false);
  });
});

describe("prepareRequestSchema", () => {
  const prepare = prepareRequestSchema(DEFAULT_LIMITS);

  it("adds an optional from_version", () => {
    expect(prepare.parse(base).from_version).toBeNull();
    expect(prepare.parse({ ...base, from_version: null }).from_version).toBeNull();
    expect(prepare.parse({ ...base, from_version: "23.05.4" }).from_version).toBe("23.05.4");
    expect(prepare.safeParse({ ...base, from_version: "23.05 4" }).success).toBe(false);
    expect(prepare.safeParse({ ...base, from_version: 23 }).success).toBe(false);
  });

  it("validates the BuildRequest fields the same way", () => {
    const parsed = prepare.parse({ ...base, profile: "a,b", packages: ["+luci"] });
    expect(parsed.profile).toBe("a_b");
    expect(parsed.packages).toEqual(["+luci"]);
    expect(prepare.safeParse({ ...base, rootfs_size_mb: 0 }).success).toBe(false);
  });

  it("keeps from_version out of the BuildRequest", () => {
    expect(schema.parse({ ...base, from_version: "23.05.4" })).not.toHaveProperty("from_version");
  });
});
