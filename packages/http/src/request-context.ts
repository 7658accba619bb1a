import { randomUUID } from "node:crypto";
import type { Logger } from "@asu/observability";
import type { Context, MiddlewareHandler } from "hono";
import { setResponseHeader } from "./response-headers.ts";

export interface RequestVariables {
  requestId: string;
  /** The request's logger, carrying its id: see requestLogger. */
  logger: () => Logger;
  /** The body as sent, set by the `rawBody` route middleware. */
  bodyText: string;
  /** The body as parsed by `orderedJson`, before the route's schema: key order and all. */
  bodyJson: unknown;
}

const REQUEST_ID_PATTERN = /^[\w.:-]{1,128}$/;

/**
 * A child logger carrying the request's id, made on first use: most requests
 * log nothing, and one per request was a visible share of a cached prepare.
 */
export function requestLogger(c: Context<{ Variables: RequestVariables }>): Logger {
  return c.get("logger")();
}

/**
 * Gives every request an id (kept from a proxy's X-Request-Id when sane) and
 * a child logger carrying it (requestLogger), then logs one line per answered request:
 * at `info` for refusals and failures, at `debug` for successes, since
 * clients poll every few seconds and handlers log their own outcome with the
 * request hash.
 */
export function requestContext(logger: Logger): MiddlewareHandler<{ Variables: RequestVariables }> {
  return async (c, next) => {
    const incoming = c.req.header("x-request-id");
    const requestId = incoming && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
    let child: Logger | undefined;
    const childLogger = () => {
      child ??= logger.child({ request_id: requestId });
      return child;
    };
    c.set("requestId", requestId);
    c.set("logger", childLogger);
    setResponseHeader(c, "X-Request-Id", requestId);
    const started = performance.now();
    await next();
    const status = c.res.status;
    const level = status >= 400 ? "info" : "debug";
    if (!logger.isLevelEnabled(level)) return;
    childLogger()[level](
      {
        method: c.req.method,
        path: c.req.path,
        status,
        duration_ms: Math.round((performance.now() - started) * 10) / 10,
      },
      "request",
    );
  };
}
