import { ApiError, problem } from "@asu/contract";
import { JsonSyntaxError, parseOrderedJson } from "@asu/python-compat";
import type { Context, MiddlewareHandler } from "hono";
import type { RequestVariables } from "./request-context.ts";

export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * A body over the limit is still read and thrown away, up to these bounds,
 * before the 413 goes out: clients that send the whole body before reading
 * (Python's urllib and requests, many others) otherwise meet a closed
 * connection on a slow link and report a broken pipe instead of the 413.
 */
export const DISCARD_MAX_BYTES = 16 * 1024 * 1024;
export const DISCARD_MAX_MS = 10_000;

export type JsonBody = { ok: true; value: unknown; text: string } | { ok: false; error: ApiError };

/** FastAPI's answer to a body that is not JSON, so clients see one error shape for all bad input. */
function jsonInvalid(position: number, reason: string): ApiError {
  return new ApiError(422, {
    detail: [
      {
        type: "json_invalid",
        loc: ["body", position],
        msg: "JSON decode error",
        input: {},
        ctx: { error: reason },
      },
    ],
  });
}

/** An empty body is pydantic's "Field required" at `["body"]`, as FastAPI answers it. */
function bodyMissing(): ApiError {
  return new ApiError(422, {
    detail: [{ type: "missing", loc: ["body"], msg: "Field required", input: null }],
  });
}

function tooLarge(limit: number): ApiError {
  return problem(413, "Payload Too Large", `Request body is larger than ${limit} bytes`);
}

/** Reads and drops the rest of a body within the discard bounds; past them the connection may close. */
async function discardRest(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  alreadyRead: number,
): Promise<void> {
  let size = alreadyRead;
  const timer = setTimeout(() => reader.cancel().catch(() => undefined), DISCARD_MAX_MS);
  try {
    while (size <= DISCARD_MAX_BYTES) {
      const { done, value } = await reader.read();
      if (done) return;
      size += value.byteLength;
    }
    await reader.cancel();
  } catch {
    // The client went away: there is no one left to answer.
  } finally {
    clearTimeout(timer);
  }
}

async function readLimited(request: Request, limit: number): Promise<Uint8Array | null> {
  if (!request.body) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await discardRest(reader, size);
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

export type BodyText = { ok: true; text: string } | { ok: false; error: ApiError };

/**
 * Reads the request body as text whatever its content type (legacy clients
 * do not all send one), refusing more than `limit` bytes before buffering
 * them (the refused rest is read and dropped, see DISCARD_MAX_BYTES).
 */
export async function readBodyText(c: Context, limit = MAX_BODY_BYTES): Promise<BodyText> {
  const lengthHeader = c.req.header("content-length");
  if (lengthHeader !== undefined) {
    const declared = Number(lengthHeader);
    if (!Number.isFinite(declared) || declared > limit) {
      // A body larger than the discard bound is refused at once: reading part of it helps no one.
      if (declared <= DISCARD_MAX_BYTES && c.req.raw.body) {
        await discardRest(c.req.raw.body.getReader(), 0);
      }
      return { ok: false, error: tooLarge(limit) };
    }
    // With a declared length the server reads the body directly, without a web stream.
    return { ok: true, text: await c.req.text() };
  }
  const bytes = await readLimited(c.req.raw, limit);
  if (bytes === null) return { ok: false, error: tooLarge(limit) };
  return { ok: true, text: new TextDecoder().decode(bytes) };
}

/**
 * Parses a body read by readBodyText, answering bad JSON as FastAPI does.
 * Objects keep the client's key order and have no prototype, and nesting
 * past MAX_JSON_DEPTH is bad JSON: see ordered-json.ts.
 */
export function parseJsonBody(text: string): JsonBody {
  if (text.trim() === "") return { ok: false, error: bodyMissing() };
  try {
    return { ok: true, value: parseOrderedJson(text), text };
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    return { ok: false, error: jsonInvalid(error.position, error.message) };
  }
}

export async function readJsonBody(c: Context, limit = MAX_BODY_BYTES): Promise<JsonBody> {
  const body = await readBodyText(c, limit);
  return body.ok ? parseJsonBody(body.text) : body;
}

type BodyEnv = { Variables: RequestVariables };

/**
 * Route middleware: reads the body as text whatever its content type, with
 * the 413 of readBodyText, into `c.var.bodyText`. A route may then answer a
 * body it has seen before without parsing it again.
 */
export function rawBody(limit = MAX_BODY_BYTES): MiddlewareHandler<BodyEnv> {
  return async (c, next) => {
    const body = await readBodyText(c, limit);
    if (!body.ok) throw body.error;
    c.set("bodyText", body.text);
    await next();
  };
}

/**
 * Parses the body with parseJsonBody and hands it to the route's validator,
 * marked as JSON whatever its content type: FastAPI reads it so, and legacy
 * clients send none or text/plain.
 */
export function orderedJson(): MiddlewareHandler<BodyEnv> {
  return async (c, next) => {
    // c.get, not c.var: Hono builds a new object of all variables for each c.var.
    const json = parseJsonBody(c.get("bodyText") ?? "");
    if (!json.ok) throw json.error;
    c.set("bodyJson", json.value);
    c.req.bodyCache.json = Promise.resolve(json.value);
    // Only when needed: on @hono/node-server, changing a header builds a full Headers object.
    if (c.req.header("content-type") !== "application/json") {
      c.req.raw.headers.set("content-type", "application/json");
    }
    await next();
  };
}
