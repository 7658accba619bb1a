import type { ServerResponse } from "node:http";
import type { Context } from "hono";

/**
 * Sets a response header without giving Hono a Headers object. Any header
 * Hono records itself turns the answer into @hono/node-server's slow path
 * (measured: a third of the prepare tier's throughput), while a header set on
 * Node's response is merged by `writeHead` for free. Outside Node (tests
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
