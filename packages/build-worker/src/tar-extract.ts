import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, isAbsolute, posix, relative, resolve, sep } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { extract } from "tar-stream";

export interface ExtractOptions {
  /** Leading path components to drop, as `tar --strip-components`. */
  stripComponents?: number;
  /** Most bytes of file content written; past it extraction stops with OutputTooLarge. */
  maxBytes?: number;
}

/** The archive holds more file content than ExtractOptions.maxBytes; nothing past it was written. */
export class OutputTooLarge extends Error {
  readonly maxBytes: number;
  constructor(maxBytes: number) {
    super(`archive content exceeds ${maxBytes} bytes`);
    this.maxBytes = maxBytes;
    this.name = "OutputTooLarge";
  }
}

export interface ExtractResult {
  /** Regular files written, relative to the destination, in archive order. */
  files: string[];
  /** Entries refused: links, devices, absolute or escaping paths. */
  skipped: string[];
}

const FILE_MODE = 0o644;
const DIR_MODE = 0o755;

/** The entry's path below the destination, or null when it must not be written. */
function entryPath(name: string, stripComponents: number): string | null {
  if (name.includes("\0") || posix.isAbsolute(name)) return null;
  const parts = name.split("/").filter((part) => part !== "" && part !== ".");
  if (parts.includes("..")) return null;
  const kept = parts.slice(stripComponents);
  return kept.length === 0 ? "" : kept.join("/");
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return !isAbsolute(rel) && rel.split(sep)[0] !== "..";
}

/**
 * Unpacks a tar stream (the container archive API's answer) into `destDir`.
 * Only regular files and directories are written, with fixed modes, and
 * nothing can land outside `destDir`: whatever ran in the container decides
 * the archive's content, so none of it is trusted.
 */
export async function extractTar(
  source: Readable,
  destDir: string,
  options: ExtractOptions = {},
): Promise<ExtractResult> {
  const root = resolve(destDir);
  const strip = options.stripComponents ?? 0;
  const result: ExtractResult = { files: [], skipped: [] };
  await mkdir(root, { recursive: true, mode: DIR_MODE });
  const entries = extract();
  const feeding = pipeline(source, entries);
  try {
    await unpack(entries, root, strip, result, options.maxBytes ?? Number.POSITIVE_INFINITY);
  } catch (error) {
    source.destroy();
    await feeding.catch(() => {});
    throw error;
  }
  await feeding;
  return result;
}

async function unpack(
  entries: ReturnType<typeof extract>,
  root: string,
  strip: number,
  result: ExtractResult,
  maxBytes: number,
): Promise<void> {
  let written = 0;
  for await (const entry of entries) {
    const { name, type } = entry.header;
    const path = entryPath(name, strip);
    const target = path === null ? null : resolve(root, path);
    const writable = target !== null && inside(root, target);
    if (writable && type === "directory") {
      await mkdir(target, { recursive: true, mode: DIR_MODE });
      entry.resume();
    } else if (writable && type === "file" && path !== "") {
      // The header says how big the entry is: refuse before writing any of it.
      written += entry.header.size ?? 0;
      if (written > maxBytes) throw new OutputTooLarge(maxBytes);
      await mkdir(dirname(target), { recursive: true, mode: DIR_MODE });
      await pipeline(entry, createWriteStream(target, { mode: FILE_MODE }));
      result.files.push(path as string);
    } else {
      if (path !== "" || type !== "directory") result.skipped.push(name);
      entry.resume();
    }
  }
}
