import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

/*
 * The README and the pages under docs/ and bench/ name the file behind each
 * behaviour and link each other; a file that moved or was renamed must take
 * its mentions along, or the page sends a newcomer to nothing.
 */

const ROOT = resolve(import.meta.dirname, "..");
const TOP_FOLDERS = ["packages", "services", "test", "bench", "scripts", "docs", "package-cache"];

/** The README and every page a reader is sent to from it. */
const DOCS = [
  "README.md",
  "bench/README.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`),
];

/** Targets of markdown links and images that stay in the repository, anchors cut off. */
function relativeLinks(markdown: string): string[] {
  const prose = markdown.replace(/```[\s\S]*?```/g, "");
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((match) => (match[1] as string).split("#")[0] as string)
    .filter((target) => target !== "" && !/^[a-z]+:/.test(target));
}

/** What the text names in `code` spans: outside fenced blocks, which hold trees and commands. */
function codeSpans(markdown: string): string[] {
  const prose = markdown.replace(/```[\s\S]*?```/g, "");
  return [...prose.matchAll(/`([^`\n]+)`/g)].map((match) => match[1] as string);
}

/** A path from the repository's root: `packages/queue/src/expiry.ts`, `services/server`. */
const isRootPath = (span: string) =>
  /^[\w.-]+(\/[\w.-]+)*\/?$/.test(span) && TOP_FOLDERS.includes(span.split("/")[0] as string);

/**
 * A file named alone, as the tables do after naming its folder once:
 * `build-routes.ts`; `x.ts` and `x.test.ts` are the placeholders of the
 * naming rule.
 */
const isFileName = (span: string) => /^[\w.-]+\.(ts|js|css)$/.test(span) && !span.startsWith("x.");

/** Every file's name below packages/ and services/, node_modules left out. */
function fileNames(dir: string, into = new Set<string>()): Set<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules") continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) fileNames(path, into);
    else into.add(basename(path));
  }
  return into;
}

describe("paths the documentation names", () => {
  const sourceNames = new Set([
    ...fileNames(join(ROOT, "packages")),
    ...fileNames(join(ROOT, "services")),
  ]);

  for (const doc of DOCS) {
    it(`every path in ${doc} exists`, () => {
      const spans = codeSpans(readFileSync(join(ROOT, doc), "utf8"));
      const named = spans.filter(isRootPath);
      expect(named.length).toBeGreaterThan(0);
      expect(named.filter((path) => !existsSync(join(ROOT, path)))).toEqual([]);
    });

    it(`every relative link in ${doc} reaches a file`, () => {
      const targets = relativeLinks(readFileSync(join(ROOT, doc), "utf8"));
      const from = dirname(join(ROOT, doc));
      expect(targets.filter((target) => !existsSync(resolve(from, target)))).toEqual([]);
    });
  }

  it("every file docs/architecture.md names alone exists in a package or service", () => {
    const spans = codeSpans(readFileSync(join(ROOT, "docs/architecture.md"), "utf8"));
    const named = spans.filter(isFileName);
    expect(named.length).toBeGreaterThan(10);
    expect(named.filter((name) => !sourceNames.has(name))).toEqual([]);
  });
});
