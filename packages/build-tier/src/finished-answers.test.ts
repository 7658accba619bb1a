import { describe, expect, it } from "vitest";
import type { BuildAnswer } from "./build-answer.ts";
import { createFinishedAnswers } from "./finished-answers.ts";

function failedAnswer(bytes: number): BuildAnswer {
  return {
    status: 500,
    body: { status: 500, detail: "Error: Build failed", stdout: "x".repeat(bytes), stderr: "" },
    headers: { "X-Imagebuilder-Status": "failed", "X-Queue-Position": "0" },
  };
}

describe("createFinishedAnswers", () => {
  it("holds no more bytes than its bound however many large answers arrive", () => {
    // The bound is a setting: a small one shows the rule without megabytes of churn.
    const maxBytes = 2 * 1024 * 1024;
    const answers = createFinishedAnswers({ maxBytes });
    const later = Date.now() + 3_600_000;
    for (let i = 0; i < 64; i++) answers.remember(`h${i}`, failedAnswer(64 * 1024), later);
    expect(answers.bytes).toBeLessThanOrEqual(maxBytes);
    // The newest stay, the oldest went.
    expect(answers.get("h63")?.status).toBe(500);
    expect(answers.get("h0")).toBeUndefined();
  });

  it("does not keep an answer larger than an eighth of the bound", () => {
    const answers = createFinishedAnswers({ maxBytes: 8 * 1024 * 1024 });
    answers.remember("big", failedAnswer(2 * 1024 * 1024), Date.now() + 60_000);
    expect(answers.get("big")).toBeUndefined();
  });

  it("keeps no queued answer and nothing past its expiry", () => {
    const answers = createFinishedAnswers();
    answers.remember("q", { ...failedAnswer(1), status: 202 }, Date.now() + 60_000);
    answers.remember("old", failedAnswer(1), Date.now() - 1);
    expect(answers.get("q")).toBeUndefined();
    expect(answers.get("old")).toBeUndefined();
  });
});
