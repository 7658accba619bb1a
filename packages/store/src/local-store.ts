import { cp, mkdir, rename, rm, stat, statfs, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { LRUCache } from "lru-cache";
import {
  assertRequestHash,
  type BuildStore,
  REQUEST_HASH_PATTERN,
  storeProblemOf,
} from "./build-store.ts";

export interface LocalStore extends BuildStore {
  /** `{PUBLIC_PATH}/store`, absolute. */
  readonly root: string;
  /** The absolute path of one stored file, or undefined when it is not in the store. */
  localPath(requestHash: string, file: string): string | undefined;
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** The stored file's absolute path; undefined for a bad hash or a name that leaves the folder. */
function pathIn(root: string, requestHash: string, file: string): string | undefined {
  if (!REQUEST_HASH_PATTERN.test(requestHash)) return undefined;
  const base = join(root, requestHash);
  const path = resolve(base, file);
  const inside = relative(base, path);
  if (inside === "" || inside.startsWith("..") || isAbsolute(inside)) return undefined;
  return path;
}

/** Moves a finished build's folder into the store, replacing what was there. */
async function saveInto(root: string, target: string, sourceDir: string): Promise<void> {
  await mkdir(root, { recursive: true });
  await rm(target, { recursive: true, force: true });
  try {
    // Same filesystem: one atomic rename, so a reader never sees half a build.
    await rename(sourceDir, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EXDEV") throw error;
    await cp(sourceDir, target, { recursive: true });
    await rm(sourceDir, { recursive: true, force: true });
  }
}

/** Why the store cannot take a new build (not a folder, not writable, full); undefined when it can. */
async function storeProblem(root: string, minFreeBytes: number) {
  try {
    // A store not created yet is made by the first save; asking must not create it.
    let existing = root;
    while (!(await exists(existing))) {
      if (dirname(existing) === existing) break;
      existing = dirname(existing);
    }
    if (!(await stat(existing)).isDirectory()) {
      return {
        state: "unwritable" as const,
        detail: `the build store cannot be written (${existing} is not a folder)`,
      };
    }
    if (existing === root) {
      const probe = join(root, `.write-probe-${process.pid}`);
      await writeFile(probe, "");
      await rm(probe, { force: true });
    }
    const space = await statfs(existing);
    const free = space.bavail * space.bsize;
    if (free < minFreeBytes) {
      return {
        state: "full" as const,
        detail: `the build store is full (${Math.floor(free / 1048576)} MiB free)`,
      };
    }
    return undefined;
  } catch (error) {
    return (
      storeProblemOf(error) ?? {
        state: "unwritable" as const,
        detail: `the build store cannot be written (${(error as Error).message})`,
      }
    );
  }
}

/** `{PUBLIC_PATH}/store/{request_hash}/`, as the Python server lays it out. */
export function createLocalStore(
  publicPath: string,
  options: {
    /** Free space below which the store counts as full (default 256 MiB: one build's images). */
    minFreeBytes?: number;
    /**
     * How long files found stored are believed stored (default 2 s; 0: ask
     * every time). Files that are missing are never remembered.
     */
    presenceTtlMs?: number;
    /** The clock of that TTL, milliseconds (tests). */
    now?: () => number;
  } = {},
): LocalStore {
  const root = resolve(publicPath, "store");
  const minFreeBytes = options.minFreeBytes ?? 256 * 1024 * 1024;
  const presenceTtlMs = options.presenceTtlMs ?? 2000;
  // A stat per file per answer cost more than the rest of a cache hit, so
  // "all there" is remembered per hash and file list; a loss shows within the TTL.
  const present =
    presenceTtlMs > 0
      ? new LRUCache<string, string>({
          max: 10_000,
          ttl: presenceTtlMs,
          ...(options.now ? { perf: { now: options.now }, ttlResolution: 0 } : {}),
        })
      : undefined;

  function folder(requestHash: string): string {
    assertRequestHash(requestHash);
    return join(root, requestHash);
  }

  const localPath = (requestHash: string, file: string) => pathIn(root, requestHash, file);

  return {
    root,
    stagingRoot: root,
    localPath,

    async save(requestHash, sourceDir) {
      await saveInto(root, folder(requestHash), sourceDir);
    },

    async remove(requestHash) {
      present?.delete(requestHash);
      await rm(folder(requestHash), { recursive: true, force: true });
    },

    async has(requestHash, files) {
      if (!REQUEST_HASH_PATTERN.test(requestHash)) return false;
      const listed = files.join("\0");
      if (present?.get(requestHash) === listed) return true;
      const paths =
        files.length > 0
          ? files.map((file) => localPath(requestHash, file))
          : [join(root, requestHash)];
      const found = await Promise.all(
        paths.map((path) => (path === undefined ? false : exists(path))),
      );
      const all = found.every(Boolean);
      if (all) present?.set(requestHash, listed);
      return all;
    },

    writeProblem: () => storeProblem(root, minFreeBytes),

    async locate(requestHash, file) {
      const path = localPath(requestHash, file);
      return path === undefined ? undefined : { kind: "local", path, root };
    },
  };
}
