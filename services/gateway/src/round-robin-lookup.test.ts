import type { LookupAddress } from "node:dns";
import { describe, expect, it } from "vitest";
import { roundRobinLookup } from "./round-robin-lookup.ts";

const REPLICAS: LookupAddress[] = [
  { address: "10.89.0.2", family: 4 },
  { address: "10.89.0.3", family: 4 },
  { address: "fd00::4", family: 6 },
];

function ask(
  lookup: ReturnType<typeof roundRobinLookup>,
  options: { all?: boolean; family?: number } = {},
): Promise<{ error: NodeJS.ErrnoException | null; address: unknown; family?: number }> {
  return new Promise((resolve) => {
    lookup("prepare", options as never, (error, address, family) =>
      resolve({ error, address, family }),
    );
  });
}

describe("roundRobinLookup", () => {
  it("hands out every address of the name in turn", async () => {
    const lookup = roundRobinLookup({ resolve: async () => REPLICAS });
    const seen = [];
    for (let i = 0; i < 4; i++) seen.push((await ask(lookup)).address);
    expect(seen).toEqual(["10.89.0.2", "10.89.0.3", "fd00::4", "10.89.0.2"]);
  });

  it("answers in the all-addresses form Node's happy-eyeballs connect asks for", async () => {
    const lookup = roundRobinLookup({ resolve: async () => REPLICAS });
    expect((await ask(lookup, { all: true })).address).toEqual([REPLICAS[0]]);
    expect((await ask(lookup, { all: true })).address).toEqual([REPLICAS[1]]);
  });

  it("keeps to the family asked for", async () => {
    const lookup = roundRobinLookup({ resolve: async () => REPLICAS });
    expect(await ask(lookup, { family: 6 })).toMatchObject({ address: "fd00::4", family: 6 });
    expect((await ask(lookup, { family: 4 })).family).toBe(4);
  });

  it("resolves once per ttl, again after forget(), and moves on to the next replica", async () => {
    let now = 0;
    let resolutions = 0;
    const lookup = roundRobinLookup({
      resolve: async () => {
        resolutions++;
        return REPLICAS.slice(0, 2);
      },
      ttlMs: 1000,
      now: () => now,
    });
    await ask(lookup);
    await ask(lookup);
    expect(resolutions).toBe(1);
    now = 1500;
    await ask(lookup);
    expect(resolutions).toBe(2);
    // Three turns taken: after forgetting, the rotation goes on where it was.
    lookup.forget("prepare");
    expect((await ask(lookup)).address).toBe("10.89.0.3");
    expect(resolutions).toBe(3);
  });

  it("passes resolver errors on and does not remember them", async () => {
    let fail = true;
    const lookup = roundRobinLookup({
      resolve: async () => {
        if (fail)
          throw Object.assign(new Error("getaddrinfo EAI_AGAIN prepare"), { code: "EAI_AGAIN" });
        return REPLICAS;
      },
    });
    expect((await ask(lookup)).error?.code).toBe("EAI_AGAIN");
    fail = false;
    expect((await ask(lookup)).address).toBe("10.89.0.2");
  });

  it("reports a name without addresses of the family as not found", async () => {
    const lookup = roundRobinLookup({ resolve: async () => REPLICAS.slice(0, 1) });
    expect((await ask(lookup, { family: 6 })).error?.code).toBe("ENOTFOUND");
  });
});
