import type { ServerResponse } from "node:http";
import type { Context } from "hono";

/**
 * Sets a header on Node's response, merged by `writeHead` for free: any header
 * Hono records puts @hono/node-server on its slow path. Outside Node (tests
 * through `app.request`) it falls back to `c.header`.
 */
export function setResponseHeader(c: Context, name: string, value: string): void {
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  if (outgoing && typeof outgoing.setHeader === "function" && !outgoing.headersSent) {
    outgoing.setHeader(name, value);
  } else {
    c.header(name, value);
  }
}
