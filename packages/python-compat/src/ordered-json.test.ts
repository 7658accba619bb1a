import { describe, expect, it } from "vitest";
import {
  JsonSyntaxError,
  KEY_ORDER,
  keysInOrder,
  MAX_JSON_DEPTH,
  parseOrderedJson,
  stringifyOrderedJson,
  withKeyOrder,
} from "./ordered-json.ts";

const SAMPLES = [
  "0",
  "-1.5e3",
  '"text with \\"escapes\\" \\u00fc \\ud83d\\ude00 \\n"',
  "true",
  "null",
  "[]",
  "{}",
  '{"a": [1, 2, {"b": null}], "c": "d", "e": false}',
  ' \n\t{ "x" : [ ] , "y" : { } } ',
  '{"a": 1, "a": 2}',
];

describe("parseOrderedJson", () => {
  it.each(SAMPLES)("reads %s as JSON.parse does", (text) => {
    expect(JSON.parse(JSON.stringify(parseOrderedJson(text)))).toEqual(JSON.parse(text));
  });

  it.each([
    "",
    "{",
    '{"a" 1}',
    "[1,]",
    "{'a': 1}",
    '"unterminated',
    "01",
    "1 2",
    '"\\x"',
    "tru",
    '"a\u0001"',
  ])("refuses %j with a position", (text) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(() => parseOrderedJson(text)).toThrow(JsonSyntaxError);
  });

  it("keeps integer-like keys where they were sent, and __proto__ as a key", () => {
    const value = parseOrderedJson('{"b": 1, "10": 2, "1": 3, "__proto__": 4}') as Record<
      string,
      number
    >;
    expect(keysInOrder(value)).toEqual(["b", "10", "1", "__proto__"]);
    expect(Object.getPrototypeOf(value)).toBeNull();
    expect(Object.hasOwn(value, "__proto__")).toBe(true);
    expect(Object.getOwnPropertyDescriptor(value, "__proto__")?.value).toBe(4);
    expect(stringifyOrderedJson(value)).toBe('{"b":1,"10":2,"1":3,"__proto__":4}');
  });

  it("builds prototype-free ordered objects at every level, __proto__ kept as a key", () => {
    const value = parseOrderedJson(
      '{"z": {"y": [{"x": 1, "__proto__": {"w": 2}}]}, "a": "b"}',
    ) as Record<string, Record<string, Record<string, unknown>[]>>;
    expect(keysInOrder(value)).toEqual(["z", "a"]);
    const inner = value.z?.y?.[0] as Record<string, unknown>;
    expect(keysInOrder(inner)).toEqual(["x", "__proto__"]);
    const proto = Object.getOwnPropertyDescriptor(inner, "__proto__")?.value as object;
    for (const object of [value, value.z as object, inner, proto]) {
      expect(Object.getPrototypeOf(object)).toBeNull();
      expect((object as Record<symbol, unknown>)[KEY_ORDER]).toEqual(Object.keys(object));
    }
    expect(Object.hasOwn(inner, "__proto__")).toBe(true);
    expect(stringifyOrderedJson(value)).toBe('{"z":{"y":[{"x":1,"__proto__":{"w":2}}]},"a":"b"}');
  });

  it("gives a repeated key its first place and its last value, as a Python dict", () => {
    const value = parseOrderedJson('{"2": "x", "1": "y", "2": "z"}') as Record<string, string>;
    expect(keysInOrder(value)).toEqual(["2", "1"]);
    expect(value["2"]).toBe("z");
  });

  it(`refuses nesting deeper than ${MAX_JSON_DEPTH} levels without using the stack`, () => {
    const deep = (levels: number) => `${"[".repeat(levels)}${"]".repeat(levels)}`;
    expect(() => parseOrderedJson(deep(MAX_JSON_DEPTH))).not.toThrow();
    expect(() => parseOrderedJson(deep(MAX_JSON_DEPTH + 1))).toThrow(/nested deeper/);
    expect(() => parseOrderedJson(`{"a": ${deep(1_000_000)}}`)).toThrow(/nested deeper/);
  });
});

describe("order helpers", () => {
  it("falls back to JavaScript's order for objects without one", () => {
    expect(keysInOrder({ b: 1, 1: 2 })).toEqual(["1", "b"]);
  });

  it("withKeyOrder copies into the given order and lets other keys follow", () => {
    const copy = withKeyOrder({ a: "1", 5: "2", b: "3" }, ["b", "5"]);
    expect(keysInOrder(copy)).toEqual(["b", "5", "a"]);
    expect(copy[KEY_ORDER]).toEqual(["b", "5", "a"]);
    expect(JSON.parse(stringifyOrderedJson({ nested: [copy] }))).toEqual({
      nested: [{ a: "1", 5: "2", b: "3" }],
    });
  });

  it("writes prototype-free objects at any depth as plain ones, and leaves them as they were", () => {
    const bare = (entries: [string, unknown][]) => {
      const object: Record<string, unknown> = Object.create(null);
      for (const [key, value] of entries) object[key] = value;
      return object;
    };
    const pins = bare([
      ["7", "a"],
      ["luci", "b"],
      ["__proto__", "c"],
    ]);
    const value = {
      status: "prepared",
      list: ["x", bare([]), { plain: bare([["k", null]]) }],
      request: bare([
        ["packages_versions", pins],
        ["repositories", bare([])],
        ["n", 1],
      ]),
    };
    expect(stringifyOrderedJson(value)).toBe(
      '{"status":"prepared","list":["x",{},{"plain":{"k":null}}],' +
        '"request":{"packages_versions":{"7":"a","luci":"b","__proto__":"c"},"repositories":{},"n":1}}',
    );
    expect(Object.getPrototypeOf(value.request)).toBeNull();
    expect(value.request.packages_versions).toBe(pins);
    expect(Object.keys(pins)).toEqual(["7", "luci", "__proto__"]);
    expect(Object.getPrototypeOf(value.list[1])).toBeNull();
  });

  it("stringifies like JSON.stringify where order is not in question", () => {
    const value = { a: [1, "x", null, undefined], b: undefined, c: { d: true }, e: new Date(0) };
    expect(stringifyOrderedJson(value)).toBe(JSON.stringify(value));
  });
});
