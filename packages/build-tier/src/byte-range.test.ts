import { describe, expect, it } from "vitest";
import { parseRange } from "./byte-range.ts";

describe("parseRange", () => {
  it.each<[string, number, ReturnType<typeof parseRange>]>([
    ["bytes=0-99", 1000, { kind: "partial", start: 0, end: 99 }],
    ["bytes=100-", 1000, { kind: "partial", start: 100, end: 999 }],
    ["bytes=-100", 1000, { kind: "partial", start: 900, end: 999 }],
    ["bytes=-5000", 1000, { kind: "partial", start: 0, end: 999 }],
    ["bytes=990-5000", 1000, { kind: "partial", start: 990, end: 999 }],
    ["bytes=999-999", 1000, { kind: "partial", start: 999, end: 999 }],
    ["Bytes = 5-9", 1000, { kind: "partial", start: 5, end: 9 }],
    ["bytes=1000-", 1000, { kind: "unsatisfiable" }],
    ["bytes=1000-2000", 1000, { kind: "unsatisfiable" }],
    ["bytes=-0", 1000, { kind: "unsatisfiable" }],
    ["bytes=0-", 0, { kind: "unsatisfiable" }],
    ["bytes=-1", 0, { kind: "unsatisfiable" }],
  ])("%s of %i bytes", (header, size, expected) => {
    expect(parseRange(header, size)).toEqual(expected);
  });

  it.each([
    undefined,
    "",
    "bytes=",
    "bytes=-",
    "bytes=9-5",
    "bytes=a-b",
    "bytes=1.5-2",
    "bytes=0-1,5-9",
    "items=0-9",
    "0-9",
    "bytes=99999999999999999999-",
    "bytes=0-99999999999999999999",
  ])("sends the whole file for %j", (header) => {
    expect(parseRange(header, 1000)).toEqual({ kind: "full" });
  });
});
