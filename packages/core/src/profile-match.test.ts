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
