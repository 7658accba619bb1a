import { describe, expect, it } from "vitest";
import { settleWithin } from "./settle-within.ts";

describe("settleWithin", () => {
  it("resolves once the promise settles, fulfilled or rejected", async () => {
    await expect(settleWithin(Promise.resolve(1), 60_000)).resolves.toBeUndefined();
    await expect(settleWithin(Promise.reject(new Error("gone")), 60_000)).resolves.toBeUndefined();
  });

  it("stops waiting for a promise that never settles", async () => {
    await expect(settleWithin(new Promise(() => {}), 10)).resolves.toBeUndefined();
  });
});
