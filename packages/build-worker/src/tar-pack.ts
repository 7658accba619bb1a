import { posix } from "node:path";
import { pack } from "tar-stream";

/** A file to place into a container, relative to the directory it is put in. */
export interface ContainerFile {
  path: string;
  content: string | Buffer;
  /** Default 0644. */
  mode?: number;
}

export interface FileOwner {
  uid: number;
  gid: number;
}

/** A relative path that cannot leave the directory it is unpacked in; throws otherwise. */
export function safeRelativePath(path: string): string {
  const normal = posix.normalize(path);
  if (
    path === "" ||
    posix.isAbsolute(path) ||
    normal === "." ||
    normal.split("/").includes("..") ||
    path.includes("\0")
  ) {
    throw new Error(`Not a safe relative path: ${JSON.stringify(path)}`);
  }
  return normal.replace(/\/+$/, "");
}

/** Every parent directory of the paths, parents first, each once. */
function parentDirectories(paths: readonly string[]): string[] {
  const dirs = new Set<string>();
  for (const path of paths) {
    const parts = path.split("/").slice(0, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
  }
  return [...dirs];
}

/**
 * A tar archive of the files for the container archive API. Parent
 * directories are listed too, so they are created with the same owner
 * instead of root's.
 */
export async function packFiles(
  files: readonly ContainerFile[],
  owner: FileOwner,
): Promise<Buffer> {
  const paths = files.map((file) => safeRelativePath(file.path));
  const archive = pack();
  const mtime = new Date();
  for (const dir of parentDirectories(paths)) {
    archive.entry({ name: dir, type: "directory", mode: 0o755, mtime, ...owner });
  }
  files.forEach((file, index) => {
    const content = typeof file.content === "string" ? Buffer.from(file.content) : file.content;
    archive.entry(
      { name: paths[index] as string, mode: file.mode ?? 0o644, mtime, ...owner },
      content,
    );
  });
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
