import { describe, expect, it } from "vitest";
import { createDerivedCache } from "./derived-cache.ts";

describe("createDerivedCache", () => {
  it("derives once while the inputs are the same objects", () => {
    const cache = createDerivedCache<string>();
    const input = { a: 1 };
    let calls = 0;
    const derive = () => `value ${++calls}`;
    expect(cache.get("k", [input, "text"], derive)).toBe("value 1");
    expect(cache.get("k", [input, "text"], derive)).toBe("value 1");
    expect(calls).toBe(1);
  });

  it("derives again when an input is another object, even an equal one", () => {
    const cache = createDerivedCache<number>();
    let calls = 0;
    cache.get("k", [{ a: 1 }], () => ++calls);
    expect(cache.get("k", [{ a: 1 }], () => ++calls)).toBe(2);
    expect(cache.get("k", [{ a: 1 }, undefined], () => ++calls)).toBe(3);
  });

  it("compares texts and undefined by value", () => {
    const cache = createDerivedCache<number>();
    let calls = 0;
    cache.get("k", [`a${"b"}`, undefined], () => ++calls);
    expect(cache.get("k", ["ab", undefined], () => ++calls)).toBe(1);
  });

  it("does not keep the caller's array, which it may change later", () => {
    const cache = createDerivedCache<number>();
    const inputs: unknown[] = ["a"];
    cache.get("k", inputs, () => 1);
    inputs[0] = "b";
    expect(cache.get("k", ["a"], () => 2)).toBe(1);
  });

  it("keeps keys apart", () => {
    const cache = createDerivedCache<string>();
    cache.get("a", [], () => "A");
    expect(cache.get("b", [], () => "B")).toBe("B");
    expect(cache.get("a", [], () => "again")).toBe("A");
  });

  it("drops the least recently used key beyond maxEntries", () => {
    const cache = createDerivedCache<string>(2);
    cache.get("a", [], () => "A");
    cache.get("b", [], () => "B");
    cache.get("a", [], () => "A2");
    cache.get("c", [], () => "C");
    expect(cache.size).toBe(2);
    expect(cache.get("a", [], () => "A3")).toBe("A");
    expect(cache.get("b", [], () => "B2")).toBe("B2");
  });

  it("remembers nothing when deriving throws", () => {
    const cache = createDerivedCache<string>();
    expect(() =>
      cache.get("k", [], () => {
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(cache.size).toBe(0);
    expect(cache.get("k", [], () => "ok")).toBe("ok");
  });
});
