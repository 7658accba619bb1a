import { cors } from "hono/cors";

/**
 * The Firmware Selector calls the API from another origin and reads the
 * build stage from headers, so those headers must be exposed explicitly.
 */
export function apiCors() {
  return cors({
    origin: "*",
    allowMethods: ["GET", "HEAD", "POST", "OPTIONS"],
    exposeHeaders: ["X-Imagebuilder-Status", "X-Queue-Position", "X-Request-Id"],
  });
}
