/** Where one stored file can be read: from this machine's disk, or elsewhere by URL. */
export type StoredFileLocation =
  | {
      kind: "local";
      path: string;
      /** The store's folder: a symlink must not lead a read out of `{root}/{request_hash}/`. */
      root: string;
    }
  | { kind: "redirect"; url: string };

/**
 * Where finished builds live, named by request hash. Workers save a build's
 * files, the build tier serves and expires them.
 */
export interface BuildStore {
  /**
   * A local folder where workers assemble a build before `save`: beside a
   * local store (so saving is a rename), a scratch folder otherwise.
   */
  readonly stagingRoot: string;
  /** Moves the files of a finished build from `sourceDir` into the store, replacing an older copy. */
  save(requestHash: string, sourceDir: string): Promise<void>;
  /** Removes a build's files; removing what is not there is no error. */
  remove(requestHash: string): Promise<void>;
  /**
   * Whether every one of `files` of a build is still stored (a wiped disk,
   * a lost volume or an S3 lifecycle rule can take them behind our back).
   * With no files named, whether anything of the build is stored.
   */
  has(requestHash: string, files: readonly string[]): Promise<boolean>;
  /**
   * Why new builds cannot be stored (`full`, `unwritable`, with a detail),
   * or undefined when they can, as far as the store can tell cheaply.
   */
  writeProblem(): Promise<StoreProblem | undefined>;
  /** Where to read one file of a build, or undefined when the name cannot be in the store. */
  locate(requestHash: string, file: string): Promise<StoredFileLocation | undefined>;
}

export interface StoreProblem {
  state: "full" | "unwritable";
  detail: string;
}

/** Error codes of a write that failed because the store has no room or refuses writes. */
export function storeProblemOf(error: unknown): StoreProblem | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOSPC" || code === "EDQUOT") {
    return { state: "full", detail: "the build store is full (no space left on the device)" };
  }
  if (code === "EROFS" || code === "EACCES" || code === "EPERM") {
    return { state: "unwritable", detail: `the build store cannot be written (${code})` };
  }
  return undefined;
}

/** Request hashes are hex sha256; anything else never names a store folder. */
export const REQUEST_HASH_PATTERN = /^[0-9a-f]{64}$/;

export function assertRequestHash(requestHash: string): void {
  if (!REQUEST_HASH_PATTERN.test(requestHash)) {
    throw new Error(`Not a request hash: ${JSON.stringify(requestHash)}`);
  }
}
