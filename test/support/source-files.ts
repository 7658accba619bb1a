import { readdirSync } from "node:fs";
import { join } from "node:path";

/** The sources (.ts, .js) below `dir`, tests left out; node_modules (thousands of files) is not walked into. */
export function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "node_modules" ? [] : sourceFiles(path);
    return entry.isFile() && /\.(ts|js)$/.test(entry.name) && !/\.test\.ts$/.test(entry.name)
      ? [path]
      : [];
  });
}

/** All sources (.ts, .js) below `dir`, tests included; node_modules is not walked into. */
export function allSourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "node_modules" ? [] : allSourceFiles(path);
    return entry.isFile() && /\.(ts|js)$/.test(entry.name) ? [path] : [];
  });
}
