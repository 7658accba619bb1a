import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { configTable, withConfigTable } from "./config-table.ts";

describe("configTable", () => {
  it("lists every contract variable with its default", () => {
    const table = configTable();
    for (const row of [
      "| `REDIS_URL` | `redis://localhost:6379` |",
      "| `UPSTREAM_URL` | `https://downloads.openwrt.org` |",
      "| `MAX_PENDING_JOBS` | `200` |",
      "| `JOB_TIMEOUT` | `10m` |",
      "| `BUILD_TTL` | `7d` |",
      "| `ALLOW_DEFAULTS` | `false` |",
      "| `REPOSITORY_ALLOW_LIST` | empty |",
    ]) {
      expect(table).toContain(row);
    }
  });

  it("is what docs/configuration.md shows (run `pnpm docs:config` after changing settings)", () => {
    const page = readFileSync(new URL("../../../docs/configuration.md", import.meta.url), "utf8");
    expect(withConfigTable(page)).toBe(page);
  });
});
