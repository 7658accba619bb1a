import { constants, type Stats } from "node:fs";
import { type FileHandle, open, realpath } from "node:fs/promises";
import { join, sep } from "node:path";
import { Readable } from "node:stream";
import { type ApiApp, createRoute, openapiAt } from "@asu/http";
import type { BuildStore } from "@asu/store";
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { parseRange } from "./byte-range.ts";

export interface StoreRouteDeps {
  store: Pick<BuildStore, "locate">;
}

const STORE_PREFIX = "/store/";

const storeRoute = createRoute({
  method: "get",
  path: "/store/{request_hash}/{file}",
  summary: "Download a built file",
  description:
    "The files of a finished build (`bin_dir` is the request hash, `images[].name` the file). HEAD, conditional requests and single byte ranges are supported. Anything outside the store answers 404. With STORE_BACKEND=s3 the answer is a redirect to the object.",
  request: {
    params: z.object({
      request_hash: z.string().describe("The build's request hash (`bin_dir`)"),
      file: z.string().describe("A file of the build; may contain `/` for sub-folders"),
    }),
  },
  responses: {
    200: {
      description: "The file",
      content: {
        "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) },
      },
    },
    206: { description: "The requested byte range" },
    302: {
      description:
        "The build lives in the S3 store: `Location` is `{S3_PUBLIC_URL}/store/{request_hash}/{file}` or a presigned URL",
    },
    304: { description: "Not modified since the copy the client has" },
    404: {
      description: "No such file in the store",
      content: { "application/json": { schema: z.object({ detail: z.literal("Not Found") }) } },
    },
    416: { description: "The byte range lies beyond the end of the file" },
  },
});

/**
 * Percent-decodes each segment of what follows `/store/`. The URL parser has
 * already removed `.` and `..` segments (also spelled `%2e`), but an encoded
 * slash or backslash survives it, so a decoded segment that could still step
 * elsewhere names no file.
 */
function storeSegments(pathname: string): string[] | undefined {
  if (!pathname.startsWith(STORE_PREFIX)) return undefined;
  const segments: string[] = [];
  for (const raw of pathname.slice(STORE_PREFIX.length).split("/")) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (segment === "" || segment === "." || segment === ".." || /[/\\\0]/.test(segment)) {
      return undefined;
    }
    segments.push(segment);
  }
  return segments;
}

const MISSING_FILE_CODES = new Set(["ENOENT", "ENOTDIR", "EISDIR", "ELOOP", "EACCES", "EPERM"]);

function isMissing(error: unknown): boolean {
  return MISSING_FILE_CODES.has((error as NodeJS.ErrnoException | undefined)?.code ?? "");
}

interface OpenedFile {
  handle: FileHandle;
  stats: Stats;
}

/**
 * Opens a stored file for reading, after making sure its real path (symlinks
 * resolved) is inside its build's folder of the real store: a link that
 * leads out of the store serves nothing. Directories are not files.
 */
async function openStoredFile(
  path: string,
  root: string,
  requestHash: string,
): Promise<OpenedFile | undefined> {
  let handle: FileHandle | undefined;
  try {
    const [real, realRoot] = await Promise.all([realpath(path), realpath(root)]);
    if (!real.startsWith(join(realRoot, requestHash) + sep)) return undefined;
    handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
    const stats = await handle.stat();
    if (!stats.isFile()) {
      await handle.close();
      return undefined;
    }
    return { handle, stats };
  } catch (error) {
    await handle?.close().catch(() => undefined);
    if (isMissing(error)) return undefined;
    throw error;
  }
}

function entityTag(stats: Stats): string {
  return `"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
}

/** RFC 9110 §13.1.2–3: If-None-Match decides when present, else If-Modified-Since. */
function isNotModified(c: Context, etag: string, modified: Date): boolean {
  const ifNoneMatch = c.req.header("if-none-match");
  if (ifNoneMatch !== undefined) {
    return ifNoneMatch
      .split(",")
      .map((candidate) => candidate.trim().replace(/^W\//, ""))
      .some((candidate) => candidate === "*" || candidate === etag);
  }
  const since = Date.parse(c.req.header("if-modified-since") ?? "");
  return !Number.isNaN(since) && Math.floor(modified.getTime() / 1000) * 1000 <= since;
}

/** A range applies only while the client's copy is current (If-Range, strong comparison). */
function rangeStillApplies(c: Context, etag: string, lastModified: string): boolean {
  const ifRange = c.req.header("if-range");
  return ifRange === undefined || ifRange === etag || ifRange === lastModified;
}

const notFound = (c: Context) => c.json({ detail: "Not Found" }, 404);

/**
 * `GET`/`HEAD /store/{request_hash}/{file}`: built files, streamed from disk
 * (images can be large) as `application/octet-stream` with `nosniff`, so a
 * stored file is never rendered by a browser on this origin; or, when the
 * store is remote, a redirect to the file there.
 */
export function registerStoreRoute(app: ApiApp, deps: StoreRouteDeps): void {
  // `{file}` may hold slashes: mounted at a pattern that lets it.
  openapiAt(app, storeRoute, "/store/:request_hash/:file{.+}", async (c) => {
    const segments = storeSegments(new URL(c.req.url).pathname);
    if (!segments || segments.length < 2) return notFound(c);
    const [requestHash = "", ...fileSegments] = segments;
    const location = await deps.store.locate(requestHash, fileSegments.join("/"));
    if (!location) return notFound(c);
    // An object store serves the bytes itself (ranges, conditionals); a
    // missing object is the object store's to answer, which saves a request per download.
    if (location.kind === "redirect") return c.body(null, 302, { Location: location.url });
    const opened = await openStoredFile(location.path, location.root, requestHash);
    if (!opened) return notFound(c);

    const { handle, stats } = opened;
    const etag = entityTag(stats);
    const lastModified = stats.mtime.toUTCString();
    const headers: Record<string, string> = {
      "Content-Type": "application/octet-stream",
      "X-Content-Type-Options": "nosniff",
      "Accept-Ranges": "bytes",
      ETag: etag,
      "Last-Modified": lastModified,
    };

    if (isNotModified(c, etag, stats.mtime)) {
      await handle.close();
      return c.body(null, 304, { ETag: etag, "Last-Modified": lastModified });
    }

    const range = rangeStillApplies(c, etag, lastModified)
      ? parseRange(c.req.header("range"), stats.size)
      : ({ kind: "full" } as const);
    if (range.kind === "unsatisfiable") {
      await handle.close();
      return c.body(null, 416, { ...headers, "Content-Range": `bytes */${stats.size}` });
    }

    const start = range.kind === "partial" ? range.start : 0;
    const end = range.kind === "partial" ? range.end : stats.size - 1;
    const status = range.kind === "partial" ? 206 : 200;
    headers["Content-Length"] = String(Math.max(0, end - start + 1));
    if (range.kind === "partial") headers["Content-Range"] = `bytes ${start}-${end}/${stats.size}`;

    // HEAD runs this GET handler and drops the body, so no stream is opened for it.
    if (c.req.method === "HEAD" || stats.size === 0) {
      await handle.close();
      return c.body(null, status, headers);
    }
    const stream = handle.createReadStream({ start, end, autoClose: true });
    return c.body(Readable.toWeb(stream) as ReadableStream<Uint8Array>, status, headers);
  });
}
