import { describe, expect, it } from "vitest";
import { createPreparedAnswers } from "./prepared-answers.ts";

describe("createPreparedAnswers", () => {
  it("returns what was stored for the same body only", () => {
    const answers = createPreparedAnswers<{ hash: string }>({});
    answers.set('{"a":1}', { hash: "x" });
    expect(answers.get('{"a":1}')).toEqual({ hash: "x" });
    expect(answers.get('{"a": 1}')).toBeUndefined();
  });

  it("forgets answers after the TTL", () => {
    let clock = 5000;
    const answers = createPreparedAnswers<{ hash: string }>({ ttlMs: 1000, now: () => clock });
    answers.set("body", { hash: "x" });
    clock += 999;
    expect(answers.get("body")).toBeDefined();
    clock += 2;
    expect(answers.get("body")).toBeUndefined();
  });

  it("keeps at most max answers, dropping the least recently used", () => {
    const answers = createPreparedAnswers<{ n: number }>({ max: 2 });
    answers.set("a", { n: 1 });
    answers.set("b", { n: 2 });
    answers.get("a");
    answers.set("c", { n: 3 });
    expect(answers.get("a")).toBeDefined();
    expect(answers.get("b")).toBeUndefined();
    expect(answers.get("c")).toBeDefined();
  });

  it("does not keep huge bodies", () => {
    const answers = createPreparedAnswers<{ n: number }>({});
    const big = "x".repeat(64 * 1024 + 1);
    answers.set(big, { n: 1 });
    expect(answers.get(big)).toBeUndefined();
  });

  it("is off with a TTL of 0", () => {
    const answers = createPreparedAnswers<{ n: number }>({ ttlMs: 0 });
    answers.set("a", { n: 1 });
    expect(answers.get("a")).toBeUndefined();
  });

  it("with keepFromSecondSight, keeps an answer only for a body offered before", () => {
    const answers = createPreparedAnswers<{ n: number }>({ keepFromSecondSight: true });
    answers.set("a", { n: 1 });
    expect(answers.get("a")).toBeUndefined();
    answers.set("b", { n: 2 });
    answers.set("a", { n: 3 });
    expect(answers.get("a")).toEqual({ n: 3 });
    expect(answers.get("b")).toBeUndefined();
    // A flood of other bodies each sent once keeps none of them.
    for (let i = 0; i < 1000; i++) answers.set(`body ${i}`, { n: i });
    expect(
      Array.from({ length: 1000 }, (_, i) => answers.get(`body ${i}`)).filter(Boolean),
    ).toEqual([]);
    expect(answers.get("a")).toEqual({ n: 3 });
  });
});
