import type { MiddlewareHandler } from "hono";
import { setResponseHeader } from "./response-headers.ts";

const ALLOW_METHODS = "GET,HEAD,POST,OPTIONS";
const EXPOSE_HEADERS = "X-Imagebuilder-Status,X-Queue-Position,X-Request-Id";

/**
 * Every answer is readable from any origin (the Firmware Selector reads the
 * stage headers). Hono's cors middleware makes a placeholder Response per
 * request, which cost this tier most of its throughput.
 */
export function apiCors(): MiddlewareHandler {
  return async (c, next) => {
    setResponseHeader(c, "Access-Control-Allow-Origin", "*");
    setResponseHeader(c, "Access-Control-Expose-Headers", EXPOSE_HEADERS);
    if (c.req.method !== "OPTIONS") return next();
    c.header("Access-Control-Allow-Methods", ALLOW_METHODS);
    const requested = c.req.header("Access-Control-Request-Headers");
    if (requested) {
      c.header(
        "Access-Control-Allow-Headers",
        requested
          .split(",")
          .map((header) => header.trim())
          .filter(Boolean)
          .join(","),
      );
      c.header("Vary", "Access-Control-Request-Headers");
    }
    c.header("Access-Control-Max-Age", "86400");
    return c.body(null, 204);
  };
}
