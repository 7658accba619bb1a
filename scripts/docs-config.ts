// Rewrites the configuration table in docs/configuration.md from the config schema.
import { readFileSync, writeFileSync } from "node:fs";
import { withConfigTable } from "../packages/config/src/config-table.ts";

const path = new URL("../docs/configuration.md", import.meta.url);
writeFileSync(path, withConfigTable(readFileSync(path, "utf8")));
