import { describe, expect, it } from "vitest";
import { compareCodePoints, pythonJsonDumps, pythonRepr } from "./python-format.ts";

// Expected texts were printed by CPython 3.11 (`repr(x)`, `str(x)`, `json.dumps(x, sort_keys=True)`).

describe("pythonRepr of str", () => {
  const cases: [string, string][] = [
    ["", "''"],
    ["abc", "'abc'"],
    ["it's", `"it's"`],
    ['say "hi"', `'say "hi"'`],
    [`both ' and "`, `'both \\' and "'`],
    ["back\\slash", "'back\\\\slash'"],
    ["tab\tnl\ncr\r", "'tab\\tnl\\ncr\\r'"],
    ["\u0000\u001f\u007f", "'\\x00\\x1f\\x7f'"],
    ["\u0080\u009f", "'\\x80\\x9f'"],
    ["café", "'café'"],
    ["\u00a0nbsp", "'\\xa0nbsp'"],
    ["\u00ad", "'\\xad'"],
    ["\u2028", "'\\u2028'"],
    ["\u200b", "'\\u200b'"],
    ["\u3000", "'\\u3000'"],
    ["\u0378", "'\\u0378'"],
    ["\ue000", "'\\ue000'"],
    ["\ud800", "'\\ud800'"],
    ["\u{1f600}", "'\u{1f600}'"],
    ["\u{e0001}", "'\\U000e0001'"],
    ["\u{10ffff}", "'\\U0010ffff'"],
    ["пакет", "'пакет'"],
    ["包", "'包'"],
    ["١٢", "'١٢'"],
    [`a'b"c\\d`, `'a\\'b"c\\\\d'`],
    [" ", "' '"],
  ];
  it.each(cases)("repr(%j) = %s", (input, expected) => {
    expect(pythonRepr(input)).toBe(expected);
  });
});

describe("pythonRepr of other values", () => {
  it("prints None, booleans and ints as Python does", () => {
    expect(pythonRepr(null)).toBe("None");
    expect(pythonRepr(true)).toBe("True");
    expect(pythonRepr(false)).toBe("False");
    expect(pythonRepr(256)).toBe("256");
    expect(pythonRepr(-3)).toBe("-3");
  });

  it("prints lists and dicts with ', ' and ': ' in insertion order", () => {
    expect(pythonRepr([])).toBe("[]");
    expect(pythonRepr({})).toBe("{}");
    expect(pythonRepr(["a", "b'c", null])).toBe(`['a', "b'c", None]`);
    expect(pythonRepr({ name: "https://x/'y", k: "v" })).toBe(`{'name': "https://x/'y", 'k': 'v'}`);
    expect(pythonRepr({ b: "1", a: "2" })).toBe("{'b': '1', 'a': '2'}");
  });

  it("refuses numbers that Python would print as floats", () => {
    expect(() => pythonRepr(1.5)).toThrow(TypeError);
    expect(() => pythonRepr(2 ** 60)).toThrow(TypeError);
  });
});

describe("pythonJsonDumps", () => {
  it("uses Python's separators and sorts keys by code point", () => {
    expect(pythonJsonDumps({ b: "1", a: "2" }, { sortKeys: true })).toBe('{"a": "2", "b": "1"}');
    expect(pythonJsonDumps({ b: "1", a: "2" })).toBe('{"b": "1", "a": "2"}');
    expect(pythonJsonDumps({}, { sortKeys: true })).toBe("{}");
    expect(pythonJsonDumps(["a", 1, true, null, {}])).toBe('["a", 1, true, null, {}]');
  });

  it("escapes like ensure_ascii, astral characters as surrogate pairs", () => {
    const value = { é: "ü", x: '\u{1f600}\u007f\u0000"\\/\b\f' };
    expect(pythonJsonDumps(value, { sortKeys: true })).toBe(
      '{"x": "\\ud83d\\ude00\\u007f\\u0000\\"\\\\/\\b\\f", "\\u00e9": "\\u00fc"}',
    );
    expect(pythonJsonDumps("a\u2028b\tc\nd\re")).toBe('"a\\u2028b\\tc\\nd\\re"');
    expect(pythonJsonDumps("\u001f~ ")).toBe('"\\u001f~ "');
  });

  it("orders astral keys after high BMP keys, as Python does", () => {
    const value = { "\uff5e": "1", "\u{1f600}": "2", a: "3" };
    expect(pythonJsonDumps(value, { sortKeys: true })).toBe(
      '{"a": "3", "\\uff5e": "1", "\\ud83d\\ude00": "2"}',
    );
  });

  it("matches Python for a packages_versions map with non-ASCII text", () => {
    const value = { paquête: "1.0~ü-1", 包: "2.0", luci: "git-24.1" };
    expect(pythonJsonDumps(value, { sortKeys: true })).toBe(
      '{"luci": "git-24.1", "paqu\\u00eate": "1.0~\\u00fc-1", "\\u5305": "2.0"}',
    );
  });
});

describe("compareCodePoints", () => {
  it("compares by code point where UTF-16 order differs", () => {
    expect(compareCodePoints("\uff5a", "\u{1d7ce}")).toBe(-1);
    expect("\uff5a" < "\u{1d7ce}").toBe(false);
    expect(compareCodePoints("\u{1d7ce}", "\uff5a")).toBe(1);
  });

  it("agrees with a comparison of code point lists on strings mixing ASCII, BMP, astral and lone surrogates", () => {
    const units = [
      "a",
      "b",
      "_",
      "\u00e9",
      "\ud7ff",
      "\ue000",
      "\uff5a",
      "\ud835",
      "\udfce",
      "\u{1d7ce}",
      "\u{1f600}",
    ];
    // Every string of up to three of these pieces: pairs, lone halves and their neighbours.
    let strings = [""];
    for (let round = 0; round < 3; round++) {
      strings = [...new Set([...strings, ...strings.flatMap((s) => units.map((u) => s + u))])];
    }
    const points = new Map(strings.map((s) => [s, Array.from(s, (ch) => ch.codePointAt(0) ?? 0)]));
    const reference = (a: string, b: string) => {
      const x = points.get(a) as number[];
      const y = points.get(b) as number[];
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        if (x[i] !== y[i]) return (x[i] as number) < (y[i] as number) ? -1 : 1;
      }
      return Math.sign(x.length - y.length);
    };
    const disagreements: string[][] = [];
    for (const a of strings) {
      for (const b of strings) {
        if (compareCodePoints(a, b) !== reference(a, b)) disagreements.push([a, b]);
      }
    }
    expect(strings.length ** 2).toBeGreaterThan(1_000_000);
    expect(disagreements.slice(0, 5)).toEqual([]);
  });

  it("orders prefixes first and equal strings as equal", () => {
    expect(compareCodePoints("ab", "abc")).toBe(-1);
    expect(compareCodePoints("abc", "ab")).toBe(1);
    expect(compareCodePoints("abc", "abc")).toBe(0);
    expect(compareCodePoints("", "")).toBe(0);
    expect(["b", "B", "a", "_", "1"].sort(compareCodePoints)).toEqual(["1", "B", "_", "a", "b"]);
  });
});
