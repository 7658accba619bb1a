import { cp, mkdir, rename, rm } from "node:fs/promises";
import { isAbsolute, join, relative, resolve } from "node:path";
import { type BuildStore, REQUEST_HASH_PATTERN } from "./build-store.ts";

/** `{PUBLIC_PATH}/store/{request_hash}/`, as the Python server lays it out. */
export function createLocalStore(publicPath: string): BuildStore & { root: string } {
  const root = resolve(publicPath, "store");

  function folder(requestHash: string): string {
    if (!REQUEST_HASH_PATTERN.test(requestHash)) {
      throw new Error(`Not a request hash: ${JSON.stringify(requestHash)}`);
    }
    return join(root, requestHash);
  }

  return {
    root,

    async save(requestHash, sourceDir) {
      const target = folder(requestHash);
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
    },

    async remove(requestHash) {
      await rm(folder(requestHash), { recursive: true, force: true });
    },

    localPath(requestHash, file) {
      if (!REQUEST_HASH_PATTERN.test(requestHash)) return undefined;
      const base = join(root, requestHash);
      const path = resolve(base, file);
      const inside = relative(base, path);
      if (inside === "" || inside.startsWith("..") || isAbsolute(inside)) return undefined;
      return path;
    },
  };
}
