import { describe, expect, it } from "vitest";
import { matchProfile } from "./profile-match.ts";

const ath79 = {
  "tplink_archer-c7-v5": { supported_devices: ["tplink,archer-c7-v5", "archer-c7-v5"] },
  "8dev_carambola2": { supported_devices: ["8dev,carambola2", "carambola2"] },
  "netgear_wndr3700-v2": { supported_devices: ["netgear,wndr3700-v2"] },
  nodevices: {},
};

describe("matchProfile", () => {
  it("matches a profile id", () => {
    expect(matchProfile(ath79, "tplink_archer-c7-v5")).toBe("tplink_archer-c7-v5");
    expect(matchProfile(ath79, "nodevices")).toBe("nodevices");
  });

  it("matches a board name through supported_devices", () => {
    expect(matchProfile(ath79, "carambola2")).toBe("8dev_carambola2");
    expect(matchProfile(ath79, "8dev_carambola2")).toBe("8dev_carambola2");
    expect(matchProfile(ath79, "netgear_wndr3700-v2")).toBe("netgear_wndr3700-v2");
  });

  it("does not match partial names or other punctuation", () => {
    expect(matchProfile(ath79, "tplink_archer-c7")).toBeUndefined();
    expect(matchProfile(ath79, "tplink-archer-c7-v5")).toBeUndefined();
    expect(matchProfile(ath79, "")).toBeUndefined();
    expect(matchProfile(ath79, "constructor")).toBeUndefined();
    expect(matchProfile(ath79, "__proto__")).toBeUndefined();
  });

  it("falls back to generic when it is the only profile", () => {
    const x86 = { generic: { supported_devices: [] } };
    expect(matchProfile(x86, "anything_at-all")).toBe("generic");
    expect(matchProfile(x86, "generic")).toBe("generic");
  });

  it("does not fall back to generic when there are other profiles", () => {
    const mixed = { generic: {}, other: {} };
    expect(matchProfile(mixed, "unknown")).toBeUndefined();
  });

  it("does not invent generic for an empty target", () => {
    expect(matchProfile({}, "generic")).toBeUndefined();
  });
});

describe("matchProfile on a target of many profiles", () => {
  // The scan the index replaces: profiles in the file's order, each one's devices in theirs.
  const scan = (profiles: Record<string, { supported_devices?: string[] }>, requested: string) => {
    if (Object.hasOwn(profiles, requested)) return requested;
    for (const [id, profile] of Object.entries(profiles)) {
      const devices = profile.supported_devices ?? [];
      if (devices.some((device) => device.replaceAll(",", "_") === requested)) return id;
    }
    const ids = Object.keys(profiles);
    return ids.length === 1 && ids[0] === "generic" ? "generic" : undefined;
  };
  const many: Record<string, { supported_devices?: string[] }> = {};
  for (let i = 0; i < 300; i++) {
    const devices = [`vendor${i % 40},model-${i}`];
    // Old names listed by more than one profile: the first in the file wins.
    if (i % 3 === 0) devices.push(`model-${i % 30}`, `shared,board-${i % 7}`);
    many[`vendor${i % 40}_model-${i}${i % 11 === 0 ? "-new" : ""}`] =
      i % 13 === 0 ? {} : { supported_devices: devices };
  }
  Object.freeze(many);
  const asked = [
    ...Object.keys(many),
    ...Object.values(many).flatMap((profile) => profile.supported_devices ?? []),
    ...Object.values(many).flatMap((p) =>
      (p.supported_devices ?? []).map((d) => d.replaceAll(",", "_")),
    ),
    "model-299",
    "no_such-board",
    "",
    "constructor",
    "__proto__",
  ];

  it("answers every name as a scan of the devices in the file's order does", () => {
    let throughDevices = 0;
    for (const name of asked) {
      const expected = scan(many, name);
      expect(matchProfile(many, name), name).toBe(expected);
      if (expected !== undefined && expected !== name) throughDevices++;
    }
    // The comparison covers board names, not only profile ids.
    expect(throughDevices).toBeGreaterThan(300);
  });

  it("indexes each version of a profiles file by itself", () => {
    const before = { old_profile: { supported_devices: ["vendor,board"] } };
    const after = { new_profile: { supported_devices: ["vendor,board"] } };
    expect(matchProfile(before, "vendor_board")).toBe("old_profile");
    expect(matchProfile(after, "vendor_board")).toBe("new_profile");
    expect(matchProfile(before, "vendor_board")).toBe("old_profile");
  });
});
