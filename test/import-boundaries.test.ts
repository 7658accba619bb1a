import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { allSourceFiles, sourceFiles } from "./support/source-files.ts";

/*
 * The folders tell the architecture only while imports keep to it:
 * packages never import services (or tests), and no service imports another.
 * A service is the imperative shell of one process (config, clients, listen);
 * what two processes share, the all-in-one server and a tier's own main.ts,
 * lives in a package (@asu/build-tier, @asu/prepare-tier, @asu/build-worker).
 *
 * The packages stand in layers: a package imports only packages of the layers
 * below its own, never one of its own layer, so there are no cycles and the
 * three tiers never import each other. A new package takes its place here.
 */
const LAYERS: readonly (readonly string[])[] = [
  // Pure foundations and the two leaf clients: they import no @asu package.
  ["@asu/python-compat", "@asu/openwrt-releases", "@asu/observability", "@asu/store"],
  // The wire contract (schema, hash, error shapes); the settings.
  ["@asu/contract", "@asu/config"],
  // The ImageBuilder's formats, the HTTP frame, the queue contract.
  ["@asu/imagebuilder-formats", "@asu/http", "@asu/queue"],
  // Package rules and migrations; statistics.
  ["@asu/package-rules", "@asu/stats"],
  // downloads.openwrt.org: metadata, catalogue, package indexes, request validation.
  ["@asu/upstream"],
  // The website the build tier mounts.
  ["@asu/pages"],
  // The tiers, which the services run.
  ["@asu/prepare-tier", "@asu/build-tier", "@asu/build-worker"],
];
const layerOf = (name: string) => LAYERS.findIndex((layer) => layer.includes(name));

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

  it("every package has a layer", () => {
    const placed = folders("packages").map((name) => packageName(`packages/${name}`));
    expect(placed.filter((name) => layerOf(name) === -1)).toEqual([]);
  });

  it("a package imports, and lists, only packages of the layers below its own", () => {
    const upward = folders("packages").flatMap((name) => {
      const folder = `packages/${name}`;
      const layer = layerOf(packageName(folder));
      const manifest = JSON.parse(readFileSync(join(ROOT, folder, "package.json"), "utf8")) as {
        dependencies?: Record<string, string>;
        devDependencies?: Record<string, string>;
      };
      const listed = Object.keys({ ...manifest.dependencies, ...manifest.devDependencies })
        .filter((dependency) => dependency.startsWith("@asu/") && layerOf(dependency) >= layer)
        .map((dependency) => `${folder}/package.json → ${dependency}`);
      const imported = allSourceFiles(join(ROOT, folder)).flatMap((file) =>
        importsOf(file)
          .filter((spec) => /^@asu\/[\w-]+$/.test(spec) && spec !== packageName(folder))
          .filter((spec) => layerOf(spec) >= layer)
          .map((spec) => `${relative(ROOT, file)} → ${spec}`),
      );
      return [...listed, ...imported];
    });
    expect(upward).toEqual([]);
  });

  it("a package's code reaches another package by its name, never by a path into it", () => {
    const crossing = folders("packages").flatMap((name) =>
      sourceFiles(join(ROOT, "packages", name)).flatMap((file) =>
        importsOf(file)
          .filter((spec) => spec.startsWith("."))
          .filter((spec) => {
            const path = relative(ROOT, resolve(file, "..", spec));
            return path.startsWith("packages/") && !path.startsWith(`packages/${name}/`);
          })
          .map((spec) => `${relative(ROOT, file)} → ${spec}`),
      ),
    );
    expect(crossing).toEqual([]);
  });
});
