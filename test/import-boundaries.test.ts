import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { sourceFiles } from "./support/source-files.ts";

/*
 * The folders tell the architecture only while imports keep to it:
 * packages never import services (or tests), and no service imports another.
 * A service is the imperative shell of one process (config, clients, listen);
 * what two processes share, the all-in-one server and a tier's own main.ts,
 * lives in a package (@asu/build-tier, @asu/prepare-tier, @asu/build-worker).
 */

const ROOT = resolve(import.meta.dirname, "..");

function importsOf(path: string): string[] {
  const text = readFileSync(path, "utf8");
  return [...text.matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)].map(
    (match) => match[1] as string,
  );
}

const folders = (parent: string) =>
  readdirSync(join(ROOT, parent), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name);

const packageName = (folder: string) =>
  (JSON.parse(readFileSync(join(ROOT, folder, "package.json"), "utf8")) as { name: string }).name;

const SERVICES = folders("services").map((name) => ({
  folder: `services/${name}`,
  name: packageName(`services/${name}`),
}));

/** Where an import lands: a service's folder, test/, or elsewhere. */
function target(from: string, spec: string): string | undefined {
  if (spec.startsWith(".")) {
    const path = relative(ROOT, resolve(from, "..", spec));
    if (path.startsWith("test/")) return "test";
    return SERVICES.find((service) => path.startsWith(`${service.folder}/`))?.folder;
  }
  return SERVICES.find((service) => spec === service.name || spec.startsWith(`${service.name}/`))
    ?.folder;
}

describe("import boundaries", () => {
  it("packages import no service and no test code", () => {
    const crossing = folders("packages").flatMap((name) =>
      sourceFiles(join(ROOT, "packages", name)).flatMap((file) =>
        importsOf(file)
          .filter((spec) => target(file, spec) !== undefined)
          .map((spec) => `${relative(ROOT, file)} → ${spec}`),
      ),
    );
    expect(crossing).toEqual([]);
  });

  it("no service imports another service, by its package name or its files", () => {
    const crossing = SERVICES.flatMap((service) =>
      sourceFiles(join(ROOT, service.folder)).flatMap((file) =>
        importsOf(file)
          .filter((spec) => {
            const landed = target(file, spec);
            return landed !== undefined && landed !== service.folder;
          })
          .map((spec) => `${relative(ROOT, file)} → ${spec}`),
      ),
    );
    expect(crossing).toEqual([]);
  });

  it("no package or service lists a service among its dependencies", () => {
    const manifests = [
      ...folders("packages").map((name) => `packages/${name}`),
      ...SERVICES.map((service) => service.folder),
    ];
    const listed = manifests.flatMap((folder) => {
      const manifest = JSON.parse(readFileSync(join(ROOT, folder, "package.json"), "utf8")) as {
        dependencies?: Record<string, string>;
        devDependencies?: Record<string, string>;
      };
      const names = Object.keys({ ...manifest.dependencies, ...manifest.devDependencies });
      return names
        .filter((dependency) => SERVICES.some((service) => service.name === dependency))
        .map((dependency) => `${folder} → ${dependency}`);
    });
    expect(listed).toEqual([]);
  });
});
