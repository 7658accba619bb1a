import { describe, expect, it } from "vitest";
import type { BuildAnswer } from "./build-answer.ts";
import {
  answerForOldLuci,
  isOldLuci,
  OLD_LUCI_STAGE_MAP,
  OLD_LUCI_STAGES,
} from "./old-luci-stages.ts";

// The contract's two client strings: a 23.05 router and a current one.
const LUCI_23_05 = "luci/git-23.236.53281-98e3743";
const LUCI_CURRENT = "luci/25.168.50434~d6b13f6";

describe("which LuCI predates the new stages", () => {
  it("takes every git- version (23.05 and older) for old", () => {
    expect(isOldLuci(LUCI_23_05)).toBe(true);
    expect(isOldLuci("luci/git-22.083.69138-6ddf5b5")).toBe(true);
  });

  it("takes an APK-style version for old only before the commit that added the stages", () => {
    expect(isOldLuci(LUCI_CURRENT)).toBe(false);
    expect(isOldLuci("luci/24.290.85087~0c7e2c1")).toBe(true);
    expect(isOldLuci("luci/24.086.45142~d3b0e0b")).toBe(true);
    expect(isOldLuci("luci/24.290.85088~46fb560")).toBe(false);
    expect(isOldLuci("luci/24.291.00001~aaaaaaa")).toBe(false);
  });

  it("gives every other client the full set", () => {
    for (const client of [undefined, null, "", "owut/2024.07.01", "asu/prebuild", "luci/unknown"]) {
      expect(isOldLuci(client)).toBe(false);
    }
  });
});

const answer = (stage: string, status: 200 | 202 = 202): BuildAnswer => ({
  status,
  body: { status, imagebuilder_status: stage, detail: "started" },
  headers: { "X-Imagebuilder-Status": stage, "X-Queue-Position": "0" },
});

describe("the five stages", () => {
  it("maps each of this server's 202 statuses to one the old table knows, body and header alike", () => {
    for (const [stage, shown] of Object.entries(OLD_LUCI_STAGE_MAP)) {
      const mapped = answerForOldLuci(answer(stage));
      expect(OLD_LUCI_STAGES).toContain(mapped.body.imagebuilder_status);
      expect(mapped.body.imagebuilder_status).toBe(shown);
      expect(mapped.headers["X-Imagebuilder-Status"]).toBe(shown);
    }
    expect(answerForOldLuci(answer("validate_manifest")).body.imagebuilder_status).toBe(
      "calculate_packages_hash",
    );
    expect(answerForOldLuci(answer("something_new")).body.imagebuilder_status).toBe("init");
  });

  it("leaves finished answers alone", () => {
    expect(answerForOldLuci(answer("done", 200)).body.imagebuilder_status).toBe("done");
  });
});
