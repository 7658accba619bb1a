import { ApiError, type RequestPart, toFastApiErrors } from "@asu/contract";
import {
  type Logger,
  METRICS_CONTENT_TYPE,
  metricsRegistry,
  metricsText,
} from "@asu/observability";
import { swaggerUI } from "@hono/swagger-ui";
import { type Hook, OpenAPIHono, z } from "@hono/zod-openapi";
import { HTTPException } from "hono/http-exception";
import { apiCors } from "./cors.ts";
import { createRoute } from "./create-route.ts";
import { httpMetrics } from "./http-metrics.ts";
import { type RequestVariables, requestContext } from "./request-context.ts";

export type ApiEnv = { Variables: RequestVariables };
export type ApiApp = OpenAPIHono<ApiEnv>;

export interface ApiAppOptions {
  title: string;
  version: string;
  description?: string;
  logger: Logger;
  /** Turns a tier's own failures (Redis down, say) into a deliberate answer. */
  mapError?: (error: unknown) => ApiError | undefined;
}

/** Hono's validation targets as FastAPI names them in `loc`. */
const PART_OF_TARGET: Record<string, RequestPart> = {
  json: "body",
  form: "body",
  query: "query",
  param: "path",
  header: "header",
  cookie: "cookie",
};

/**
 * What every route's zod validation answers on failure: the contract's
 * FastAPI-shaped 422, whichever part of the request failed.
 */
export const fastApiHook: Hook<unknown, ApiEnv, string, Response | undefined> = (result, c) => {
  if (result.success) return undefined;
  const part = PART_OF_TARGET[result.target] ?? "body";
  // @hono/zod-validator hands the failing input over as `data`; the hook's type omits it.
  const input = "data" in result ? result.data : undefined;
  return c.json(toFastApiErrors(result.error, input, part), 422);
};

/**
 * The frame both tiers share: CORS on every answer (errors included), one log
 * line per request, the contract's error shapes, and the OpenAPI document
 * generated from the routes' schemas. Every route is declared once, with
 * `app.openapi(route, handler)`: its schemas validate (failures answered by
 * `fastApiHook`), type the handler and document it.
 */
export function createApiApp(options: ApiAppOptions): ApiApp {
  const app = new OpenAPIHono<ApiEnv>({ defaultHook: fastApiHook });
  // First, so preflights and refusals by later middleware are counted too.
  const metrics = metricsRegistry(app);
  app.use("*", httpMetrics(metrics));
  app.use("*", apiCors());
  app.use("*", requestContext(options.logger));

  app.notFound((c) => c.json({ detail: "Not Found" }, 404));
  app.onError((error, c) => {
    const mapped = error instanceof ApiError ? error : options.mapError?.(error);
    if (mapped) {
      if (mapped.status >= 500) {
        (c.get("logger")?.() ?? options.logger).warn(
          { err: error, status: mapped.status },
          mapped.message,
        );
      }
      return c.json(mapped.body, mapped.status as 400, { ...mapped.headers });
    }
    if (error instanceof HTTPException) {
      return c.json({ detail: error.message || "Bad Request" }, error.status);
    }
    (c.get("logger")?.() ?? options.logger).error({ err: error }, "unhandled error");
    return c.json({ detail: "Internal Server Error" }, 500);
  });

  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: { title: options.title, version: options.version, description: options.description },
  });
  app.get("/docs", swaggerUI({ url: "/openapi.json" }));

  app.openapi(
    createRoute({
      method: "get",
      path: "/metrics",
      summary: "Prometheus metrics",
      description: "Prometheus text format; the metric names are listed in docs/metrics.md.",
      responses: {
        200: {
          description: "Metrics",
          content: { [METRICS_CONTENT_TYPE]: { schema: z.string() } },
        },
      },
    }),
    async (c) => c.text(await metricsText(metrics), 200, { "Content-Type": METRICS_CONTENT_TYPE }),
  );
  return app;
}
