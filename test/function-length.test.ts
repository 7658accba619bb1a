import { readdirSync, readFileSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { sourceFiles } from "./support/source-files.ts";

/*
 * No function in packages/{name}/src runs over 80 lines: a longer one is
 * split into named steps. Every function counts (declarations, methods,
 * arrow functions and function expressions, nested ones on their own), from
 * its first line to its last. Tests do not: a `describe` block is a list of
 * cases, not a function to read as steps. Browser scripts (.js) count.
 */

const ROOT = resolve(import.meta.dirname, "..");
const MAX_LINES = 80;

/*
 * Functions over the limit still to be split, as `file#function` (the file
 * by its name alone, so a move between packages keeps its entry). The list
 * only shrinks: an entry that is short now fails until it is taken out.
 */
const NOT_YET_SPLIT = new Set<string>([]);

/** What a reader calls a function: its name, the name it is bound to, or the method's. */
function nameOf(node: ts.FunctionLikeDeclaration): string {
  if (node.name) return node.name.getText();
  const parent = node.parent;
  if (
    (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)) &&
    ts.isIdentifier(parent.name)
  ) {
    return parent.name.text;
  }
  if (ts.isCallExpression(parent)) return `(callback of ${parent.expression.getText()})`;
  return "(anonymous)";
}

interface LongFunction {
  id: string;
  where: string;
  lines: number;
}

function longFunctions(path: string): LongFunction[] {
  const text = readFileSync(path, "utf8");
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const found: LongFunction[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = last - first + 1;
      if (lines > MAX_LINES) {
        const name = nameOf(node as ts.FunctionLikeDeclaration);
        found.push({
          id: `${basename(path)}#${name}`,
          where: `${relative(ROOT, path)}:${first + 1} ${name}`,
          lines,
        });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const packageSources = () =>
  readdirSync(join(ROOT, "packages"), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) => sourceFiles(join(ROOT, "packages", entry.name, "src")));

describe("function length", () => {
  const long = packageSources().flatMap(longFunctions);

  it(`finds no function in packages/*/src over ${MAX_LINES} lines`, () => {
    const offenders = long
      .filter((fn) => !NOT_YET_SPLIT.has(fn.id))
      .map((fn) => `${fn.where}: ${fn.lines} lines`);
    expect(offenders).toEqual([]);
  });

  it("lists only functions still too long", () => {
    const ids = new Set(long.map((fn) => fn.id));
    expect([...NOT_YET_SPLIT].filter((id) => !ids.has(id))).toEqual([]);
  });

  it("measures what it claims", () => {
    const body = Array.from({ length: MAX_LINES - 1 }, () => "  work();").join("\n");
    const source = ts.createSourceFile(
      "x.ts",
      `function fits() {\n${body.split("\n").slice(1).join("\n")}\n}\nconst over = () => {\n${body}\n};`,
      ts.ScriptTarget.Latest,
      true,
    );
    const lengths: Record<string, number> = {};
    const visit = (node: ts.Node) => {
      if (ts.isFunctionLike(node) && "body" in node && node.body) {
        const fn = node as ts.FunctionLikeDeclaration;
        const first = source.getLineAndCharacterOfPosition(fn.getStart(source)).line;
        lengths[nameOf(fn)] = source.getLineAndCharacterOfPosition(fn.getEnd()).line - first + 1;
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    expect(lengths).toEqual({ fits: MAX_LINES, over: MAX_LINES + 1 });
  });
});
