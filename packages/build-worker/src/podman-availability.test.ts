import { describe, expect, it } from "vitest";
import { watchPodman } from "./podman-availability.ts";

/** An API that answers while `up` is true; counts questions. */
function api() {
  const state = { up: true, pings: 0, events: [] as string[] };
  return {
    state,
    options: {
      ping: async () => {
        state.pings++;
        if (!state.up)
          throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
      },
      onDown: () => state.events.push("down"),
      onUp: () => state.events.push("up"),
      minDelayMs: 10,
      maxDelayMs: 40,
      checkIntervalMs: 60_000,
    },
  };
}

describe("watchPodman", () => {
  it("stays up while the API answers", async () => {
    const { state, options } = api();
    const watch = watchPodman(options);
    expect(await watch.confirm()).toBe(true);
    expect(watch.available).toBe(true);
    expect(state.events).toEqual([]);
    watch.stop();
  });

  it("goes down once when the API does not answer, and up when it answers again", async () => {
    const { state, options } = api();
    const watch = watchPodman(options);
    state.up = false;
    const answers = await Promise.all([watch.confirm(), watch.confirm(), watch.confirm()]);
    expect(answers).toEqual([false, false, false]);
    expect(watch.available).toBe(false);
    expect(state.events).toEqual(["down"]);
    // Retried with backoff while down.
    await expect.poll(() => state.pings, { timeout: 10_000 }).toBeGreaterThan(3);
    expect(await watch.confirm()).toBe(false);
    state.up = true;
    await expect.poll(() => watch.available, { timeout: 10_000 }).toBe(true);
    expect(state.events).toEqual(["down", "up"]);
    watch.stop();
  });

  it("counts an API that hangs as down", async () => {
    const { state, options } = api();
    const watch = watchPodman({
      ...options,
      ping: () => new Promise(() => {}),
      pingTimeoutMs: 50,
    });
    expect(await watch.confirm()).toBe(false);
    expect(state.events).toEqual(["down"]);
    watch.stop();
  });

  it("notices an outage of an idle worker by itself", async () => {
    const { state, options } = api();
    state.up = false;
    const watch = watchPodman({ ...options, checkIntervalMs: 20 });
    await expect.poll(() => state.events, { timeout: 10_000 }).toEqual(["down"]);
    watch.stop();
  });
});
