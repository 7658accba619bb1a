import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile, realpath, stat } from "node:fs/promises";
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * How the fake upstream misbehaves while down:
 * - `refuse`: the port stops listening (ECONNREFUSED)
 * - `reset`: connections are accepted and destroyed at once (ECONNRESET)
 * - `status503`: every request answers 503
 * - `hang`: requests are read and never answered, to exercise timeouts
 */
/**
 * version_code of 24.10.0 in test/fixtures/upstream, as its profiles.json
 * says: builds of 24.10.0 report it, and the ImageBuilder doubles must too.
 */
export const FIXTURE_REVISION_24_10: string = JSON.parse(
  readFileSync(
    new URL(
      "../fixtures/upstream/releases/24.10.0/targets/ath79/generic/profiles.json",
      import.meta.url,
    ),
    "utf8",
  ),
).version_code;

export type FakeUpstreamDownMode = "refuse" | "reset" | "status503" | "hang";

export interface FakeUpstreamOptions {
  /** Directory mirroring a download server. Default: test/fixtures/upstream. */
  root?: string;
  /** Send `ETag` (default true); off exercises If-Modified-Since alone. */
  etags?: boolean;
  /** Send `Last-Modified` (default true). */
  lastModified?: boolean;
  /** Port to listen on (default: any free one). */
  port?: number;
}

export interface FakeUpstreamRequest {
  method: string;
  /** The request path as sent, without the query string. */
  path: string;
  headers: IncomingHttpHeaders;
}

export interface FakeUpstream {
  /** Base URL, no trailing slash. */
  readonly url: string;
  /** Every HTTP request the server read, in order (also while down, except refuse/reset). */
  readonly requests: FakeUpstreamRequest[];
  /** The logged requests for one path, e.g. `/.versions.json`. */
  requestsFor(path: string): FakeUpstreamRequest[];
  /** Await it: `refuse` closes and reopens the listening port. Default mode `refuse`. */
  setDown(down: boolean, mode?: FakeUpstreamDownMode): Promise<void>;
  /** Serve `content` at `path` (relative to the root) in place of or next to the files on disk. */
  addFile(path: string, content: string | Uint8Array, options?: { lastModified?: Date }): void;
  /** Answer 404 for `path` from now on, whether it came from disk or from addFile. */
  removeFile(path: string): void;
  close(): Promise<void>;
}

interface ServedFile {
  content: Buffer;
  modified: Date;
}

const DEFAULT_ROOT = fileURLToPath(new URL("../fixtures/upstream/", import.meta.url));

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".json": "application/json",
  ".conf": "text/plain; charset=utf-8",
  ".manifest": "text/plain; charset=utf-8",
  ".info": "text/plain; charset=utf-8",
  "": "text/plain; charset=utf-8",
};
const FALLBACK_CONTENT_TYPE = "application/octet-stream";

export async function startFakeUpstream(options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  const root = await realpath(options.root ?? DEFAULT_ROOT);
  const sendEtag = options.etags ?? true;
  const sendLastModified = options.lastModified ?? true;
  const overlay = new Map<string, ServedFile | null>();
  const requests: FakeUpstreamRequest[] = [];
  let downMode: FakeUpstreamDownMode | undefined;

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  server.on("connection", (socket) => {
    if (downMode === "reset") socket.destroy();
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const method = request.method ?? "GET";
    const path = (request.url ?? "/").split("?", 1)[0] ?? "/";
    requests.push({ method, path, headers: request.headers });

    if (downMode === "hang") return;
    if (downMode === "status503") {
      response.writeHead(503, { "content-type": "text/plain; charset=utf-8" });
      response.end("Service Unavailable");
      return;
    }
    if (method !== "GET" && method !== "HEAD") {
      response.writeHead(405, { allow: "GET, HEAD" });
      response.end();
      return;
    }
    const segments = decodeSegments(path);
    const file = segments === undefined ? undefined : await findFile(segments);
    if (file === undefined) {
      response.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      response.end(method === "HEAD" ? undefined : "Not Found");
      return;
    }

    const validators: Record<string, string> = {};
    const etag = `"${createHash("sha256").update(file.content).digest("hex").slice(0, 32)}"`;
    if (sendEtag) validators.etag = etag;
    if (sendLastModified) validators["last-modified"] = file.modified.toUTCString();

    if (isNotModified(request.headers, sendEtag ? etag : undefined, file.modified)) {
      response.writeHead(304, validators);
      response.end();
      return;
    }
    response.writeHead(200, {
      ...validators,
      "content-type": CONTENT_TYPES[extname(path)] ?? FALLBACK_CONTENT_TYPE,
      "content-length": String(file.content.length),
    });
    response.end(method === "HEAD" ? undefined : file.content);
  }

  async function findFile(segments: string[]): Promise<ServedFile | undefined> {
    const key = segments.join("/");
    const overlaid = overlay.get(key);
    if (overlaid !== undefined) return overlaid ?? undefined;
    try {
      // realpath so a symlink cannot lead out of the root either.
      const real = await realpath(join(root, ...segments));
      if (!real.startsWith(root + sep)) return undefined;
      const info = await stat(real);
      if (!info.isFile()) return undefined;
      return { content: await readFile(real), modified: info.mtime };
    } catch {
      return undefined;
    }
  }

  async function listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  }

  async function stopListening(): Promise<void> {
    if (!server.listening) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
    // Let clients in this process notice the closed keep-alive sockets, so
    // their next request connects afresh (and is refused) instead of failing on a dead socket.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }

  await listen(options.port ?? 0);
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    requestsFor: (path) => requests.filter((request) => request.path === path),
    async setDown(down, mode = "refuse") {
      const previous = downMode;
      downMode = down ? mode : undefined;
      if (previous === "refuse" && downMode !== "refuse") await listen(port);
      if (downMode === "refuse" && previous !== "refuse") await stopListening();
      // Keep-alive sockets would otherwise keep serving after going down.
      if (downMode === "reset") server.closeAllConnections();
    },
    addFile(path, content, fileOptions) {
      overlay.set(overlayKey(path), {
        content: Buffer.from(content),
        modified: fileOptions?.lastModified ?? new Date(),
      });
    },
    removeFile(path) {
      overlay.set(overlayKey(path), null);
    },
    async close() {
      downMode = undefined;
      await stopListening();
    },
  };
}

/** Undefined when any segment could step outside the root or is malformed. */
function decodeSegments(path: string): string[] | undefined {
  const segments: string[] = [];
  for (const raw of path.replace(/^\/+/, "").split("/")) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (!isSafeSegment(segment)) return undefined;
    segments.push(segment);
  }
  return segments;
}

function isSafeSegment(segment: string): boolean {
  return (
    segment !== "" &&
    segment !== "." &&
    segment !== ".." &&
    !segment.includes("/") &&
    !segment.includes("\\") &&
    !segment.includes("\0")
  );
}

function overlayKey(path: string): string {
  const segments = path.replace(/^\/+/, "").split("/");
  if (!segments.every(isSafeSegment)) throw new TypeError(`Invalid fixture path: ${path}`);
  return segments.join("/");
}

/** RFC 9110 §13.2.2: If-None-Match wins; If-Modified-Since counts only without it. */
function isNotModified(
  headers: IncomingHttpHeaders,
  etag: string | undefined,
  modified: Date,
): boolean {
  const ifNoneMatch = headers["if-none-match"];
  if (ifNoneMatch !== undefined) {
    if (etag === undefined) return false;
    return ifNoneMatch
      .split(",")
      .map((candidate) => candidate.trim().replace(/^W\//, ""))
      .some((candidate) => candidate === "*" || candidate === etag);
  }
  const ifModifiedSince = headers["if-modified-since"];
  if (ifModifiedSince === undefined) return false;
  const since = Date.parse(ifModifiedSince);
  if (Number.isNaN(since)) return false;
  // HTTP dates have whole seconds; compare at that precision.
  return Math.floor(modified.getTime() / 1000) * 1000 <= since;
}
