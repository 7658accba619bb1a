import { readFileSync } from "node:fs";
import {
  type Branch,
  type BranchEntry,
  branchesFromTable,
  DEFAULT_BRANCHES,
} from "@asu/openwrt-releases";
import { parse as parseToml } from "smol-toml";
import { z } from "zod";
import { ConfigError } from "./load-config.ts";

const entryFields = {
  path: z.string().optional(),
  enabled: z.boolean().optional(),
  snapshot: z.boolean().optional(),
  branch_off_rev: z.number().int().nonnegative().optional(),
};

/**
 * A BRANCHES_FILE lists branches either as the Python server's mapping
 * (`{"24.10": {"branch_off_rev": 27990}}`, TOML `[branches."24.10"]`) or as a
 * list of rows with a `name`.
 */
const branchesFileSchema = z.union([
  z.object({ branches: z.array(z.object({ name: z.string().min(1), ...entryFields })) }),
  z.object({ branches: z.record(z.string().min(1), z.object(entryFields)) }),
  z.record(z.string().min(1), z.object(entryFields)),
]);

function toEntries(parsed: z.output<typeof branchesFileSchema>): BranchEntry[] {
  const table = "branches" in parsed && parsed.branches !== undefined ? parsed.branches : parsed;
  if (Array.isArray(table)) return table;
  return Object.entries(table as Record<string, Omit<BranchEntry, "name">>).map(
    ([name, entry]) => ({ name, ...entry }),
  );
}

/** The branch table: the contract's default, or the one in BRANCHES_FILE. */
export function loadBranches(path: string | undefined): readonly Branch[] {
  if (!path) return DEFAULT_BRANCHES;
  let raw: unknown;
  try {
    const text = readFileSync(path, "utf8");
    raw = path.endsWith(".toml") ? parseToml(text) : JSON.parse(text);
  } catch (error) {
    throw new ConfigError([`BRANCHES_FILE=${path}: ${(error as Error).message}`]);
  }
  const parsed = branchesFileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError([`BRANCHES_FILE=${path}: ${z.prettifyError(parsed.error)}`]);
  }
  try {
    return branchesFromTable(toEntries(parsed.data));
  } catch (error) {
    throw new ConfigError([`BRANCHES_FILE=${path}: ${(error as Error).message}`]);
  }
}
