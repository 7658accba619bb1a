import { describe, expect, it } from "vitest";
import { networkGuardVerdict } from "./network-guard-check.ts";

describe("networkGuardVerdict", () => {
  it("starts on a guarded network, or with no network at all", () => {
    expect(
      networkGuardVerdict("asu-build", { kind: "present", via: "nft on this host" }, false),
    ).toEqual({
      start: true,
      level: "info",
      message: "the build network is guarded (nft on this host)",
    });
    expect(networkGuardVerdict("none", { kind: "mode" }, false)).toMatchObject({
      start: true,
      level: "info",
    });
  });

  it("refuses an unguarded network with one message that names the fix", () => {
    const verdict = networkGuardVerdict(
      "asu-build",
      { kind: "absent", via: "nft on this host" },
      false,
    );
    expect(verdict.start).toBe(false);
    expect(verdict.level).toBe("error");
    expect(verdict.message).toContain("no guard table asu_build_guard_asu_build");
    expect(verdict.message).toContain("pnpm guard:build-network -- --network asu-build");
    expect(verdict.message).toContain("CONTAINER_NETWORK=none");
    expect(verdict.message).toContain("ALLOW_UNGUARDED_BUILD_NETWORK=1");
    expect(verdict.message).not.toContain("\n");
  });

  it("refuses when the guard cannot be read, saying why", () => {
    const verdict = networkGuardVerdict(
      "builds",
      { kind: "unreadable", reason: "nft on this host: Operation not permitted" },
      false,
    );
    expect(verdict).toMatchObject({ start: false, level: "error" });
    expect(verdict.message).toContain("Operation not permitted");
    expect(verdict.message).toContain("--network builds");
  });

  it("refuses network modes other than none: host and the default bridge reach the host", () => {
    for (const mode of ["host", "bridge", "slirp4netns", "pasta"]) {
      const verdict = networkGuardVerdict(mode, { kind: "mode" }, false);
      expect(verdict.start, mode).toBe(false);
      expect(verdict.message).toContain(`the network mode ${mode} has no guard`);
    }
  });

  it("starts unguarded only when ALLOW_UNGUARDED_BUILD_NETWORK=1 says so, with a warning", () => {
    for (const state of [
      { kind: "absent", via: "nft on this host" },
      { kind: "unreadable", reason: "spawn nft ENOENT" },
      { kind: "mode" },
    ] as const) {
      const verdict = networkGuardVerdict("host", state, true);
      expect(verdict).toMatchObject({ start: true, level: "warn" });
      expect(verdict.message).toContain("ALLOW_UNGUARDED_BUILD_NETWORK=1");
    }
  });
});
