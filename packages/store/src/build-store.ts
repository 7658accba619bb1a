/**
 * Where finished builds live, named by request hash. Workers save a build's
 * files, the build tier serves and expires them.
 */
export interface BuildStore {
  /** Moves the files of a finished build from `sourceDir` into the store. */
  save(requestHash: string, sourceDir: string): Promise<void>;
  remove(requestHash: string): Promise<void>;
  /** The absolute path of one stored file, or undefined when it is not in the store. */
  localPath(requestHash: string, file: string): string | undefined;
}

/** Request hashes are hex sha256; anything else never names a store folder. */
export const REQUEST_HASH_PATTERN = /^[0-9a-f]{64}$/;
