import { existsSync, readFileSync } from "node:fs";
import { copyFile, cp, mkdir, mkdtemp, realpath, rm, symlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { podmanImageExists, runPodman } from "./podman-service.ts";
import { findCommand, runCommand } from "./run-command.ts";

/*
 * Images the deployment test builds without any registry: a Debian root made
 * by debootstrap with the project's Node copied in stands for the public Node
 * image the Containerfiles default to, and Redis comes from Debian's package.
 * Both are cached by tag, so only the first run pays for them (about a minute
 * for debootstrap).
 */

const NODE_BASE_REPOSITORY = "localhost/asu-test/node-base";
const REDIS_REPOSITORY = "localhost/asu-test/redis";
const SUITE = "bookworm";
const MIRROR = process.env.DEBIAN_MIRROR || "http://deb.debian.org/debian";
const CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

/**
 * The Node the project runs on: the `node` devDependency's binary (the
 * Node 24 of .node-version), not whichever node runs this test, which on a
 * machine with an older system Node may be that one.
 */
function projectNode(): { path: string; version: string } {
  const manifest = createRequire(import.meta.url).resolve("node/package.json");
  const { version } = JSON.parse(readFileSync(manifest, "utf8")) as { version: string };
  return { path: join(dirname(manifest), "bin", "node"), version };
}

/** `bookworm-node24.21.0`: another Node makes another base. */
function baseTag(): string {
  return `${SUITE}-node${projectNode().version}`;
}

export function nodeBaseRef(): string {
  return `${NODE_BASE_REPOSITORY}:${baseTag()}`;
}

/**
 * The host's npm package (the `node` package brings no npm): the directory
 * holding `bin/npm-cli.js`, found through the `npm` on PATH.
 */
async function hostNpm(): Promise<string> {
  const command = findCommand("npm");
  if (!command) throw new Error("npm is not on PATH");
  const npm = dirname(dirname(await realpath(command)));
  if (!existsSync(join(npm, "bin", "npm-cli.js"))) {
    throw new Error(`npm not found from ${command} (looked in ${npm})`);
  }
  return npm;
}

/**
 * An npm package that runs on its own: the host's when it bundles its
 * dependencies, else (Debian's `npm` keeps them in /usr/share/nodejs) npm 11
 * from the registry, installed by the host's npm under `dir`.
 */
async function selfContainedNpm(dir: string, env: Record<string, string>): Promise<string> {
  const npm = await hostNpm();
  if (existsSync(join(npm, "node_modules", "semver"))) return npm;
  const prefix = join(dir, "npm-prefix");
  await runCommand("npm", ["install", "--global", "--prefix", prefix, "npm@11"], { env });
  return join(prefix, "lib", "node_modules", "npm");
}

/**
 * The host's trusted certificates: where TLS to the npm registry is
 * intercepted by a proxy (as on CI machines), builds inside the image must
 * trust what the host trusts.
 */
function hostCaBundle(): string | undefined {
  const extra = process.env.NODE_EXTRA_CA_CERTS;
  if (extra && existsSync(extra)) return extra;
  return existsSync(CA_BUNDLE) ? CA_BUNDLE : undefined;
}

export interface BuiltImage {
  ref: string;
  /** False when an earlier run's image was reused. */
  built: boolean;
}

/**
 * A Node base image laid out like the official `node:*-slim` ones: Debian
 * (debootstrap, minbase) with node in /usr/local/bin and npm in
 * /usr/local/lib/node_modules: the project's Node, the host's npm.
 */
export async function ensureNodeBaseImage(env: Record<string, string>): Promise<BuiltImage> {
  const ref = nodeBaseRef();
  if (await podmanImageExists(env, ref)) return { ref, built: false };
  const debootstrap = findCommand("debootstrap");
  if (!debootstrap)
    throw new Error("debootstrap is not installed (apt-get install -y debootstrap)");

  const dir = await mkdtemp(join(tmpdir(), "asu-node-base-"));
  try {
    const root = join(dir, "rootfs");
    await runCommand(debootstrap, ["--variant=minbase", SUITE, root, MIRROR], { env });
    // Package caches and lists are only size: apt-get update fetches lists again.
    await runCommand("sh", [
      "-c",
      'rm -rf "$1"/var/cache/apt/*.bin "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*',
      "sh",
      root,
    ]);

    const node = await realpath(projectNode().path);
    const npm = await selfContainedNpm(dir, env);
    await mkdir(join(root, "usr/local/bin"), { recursive: true });
    await mkdir(join(root, "usr/local/lib/node_modules"), { recursive: true });
    await copyFile(node, join(root, "usr/local/bin/node"));
    await cp(npm, join(root, "usr/local/lib/node_modules/npm"), { recursive: true });
    await symlink("../lib/node_modules/npm/bin/npm-cli.js", join(root, "usr/local/bin/npm"));
    await symlink("../lib/node_modules/npm/bin/npx-cli.js", join(root, "usr/local/bin/npx"));

    const changes = [
      "ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      'CMD=["node"]',
    ];
    const ca = hostCaBundle();
    if (ca) {
      await mkdir(join(root, "etc/ssl/certs"), { recursive: true });
      await copyFile(ca, join(root, "etc/ssl/certs/host-ca-certificates.crt"));
      changes.push("ENV=NODE_EXTRA_CA_CERTS=/etc/ssl/certs/host-ca-certificates.crt");
    }

    const tar = join(dir, "rootfs.tar");
    await runCommand("tar", ["--numeric-owner", "-C", root, "-cf", tar, "."]);
    await runPodman(env, [
      "import",
      "--quiet",
      ...changes.flatMap((change) => ["--change", change]),
      tar,
      ref,
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return { ref, built: true };
}

/**
 * Redis from Debian's package on the base image: the compose file's default
 * (docker.io/library/redis:7) needs a registry. It runs the same command the
 * compose file gives the official image.
 */
export async function ensureRedisImage(
  env: Record<string, string>,
  baseRef: string,
): Promise<BuiltImage> {
  const ref = `${REDIS_REPOSITORY}:${baseRef.split(":").at(-1)}`;
  if (await podmanImageExists(env, ref)) return { ref, built: false };
  const dir = await mkdtemp(join(tmpdir(), "asu-redis-image-"));
  try {
    await writeFile(
      join(dir, "Containerfile"),
      [
        `FROM ${baseRef}`,
        "RUN apt-get update \\",
        "  && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \\",
        "  && rm -rf /var/lib/apt/lists/* \\",
        "  && mkdir -p /data && chown redis:redis /data",
        "USER redis",
        "WORKDIR /data",
        'CMD ["redis-server", "--protected-mode", "no"]',
        "",
      ].join("\n"),
    );
    await runPodman(env, ["build", "--format", "docker", "-t", ref, dir]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return { ref, built: true };
}

/**
 * Label of every image a test builds with `podman build`, its value the
 * run. Buildah puts it on the intermediate images too (each step's cache
 * layer, each builder stage), which are left dangling once the tagged
 * result is removed: about 2 GB per run of the deployment test.
 */
export const TEST_BUILD_LABEL = "asu-test-build";

/** `podman build` arguments that mark what this run builds. */
export function testBuildLabel(run: string): string[] {
  return ["--label", `${TEST_BUILD_LABEL}=${run}`];
}

/**
 * Removes this run's images that nothing uses any more (call it after
 * removing the run's tags), and no one else's: runs side by side share the
 * Podman storage, so a plain `podman image prune` would take theirs.
 */
export async function removeRunImages(env: Record<string, string>, run: string): Promise<string[]> {
  const label = `label=${TEST_BUILD_LABEL}=${run}`;
  await runPodman(env, ["image", "prune", "-f", "--filter", label], { allowFailure: true });
  const left = await runPodman(env, ["images", "-a", "-q", "--filter", label]);
  return left.stdout.split("\n").filter(Boolean);
}
