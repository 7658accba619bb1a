import { describe, expect, it } from "vitest";
import { formatDuration, parseDurationSeconds } from "./duration.ts";

describe("parseDurationSeconds", () => {
  it.each([
    ["30m", 1800],
    ["24h", 86_400],
    ["7d", 604_800],
    ["1w", 604_800],
    ["600", 600],
    ["45s", 45],
    [" 10M ", 600],
    ["1.5h", 5400],
  ])("%s → %d", (text, seconds) => {
    expect(parseDurationSeconds(text)).toBe(seconds);
  });

  it.each(["", "m", "10x", "-5m", "ten", "5 minutes", "1e3"])("refuses %j", (text) => {
    expect(parseDurationSeconds(text)).toBeUndefined();
  });
});

describe("formatDuration", () => {
  it.each([
    [604_800, "7d"],
    [86_400, "1d"],
    [1800, "30m"],
    [3600, "1h"],
    [90, "90s"],
    [5400, "90m"],
  ])("%d → %s", (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });
});
