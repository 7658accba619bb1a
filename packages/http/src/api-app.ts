import { ApiError } from "@asu/core";
import { swaggerUI } from "@hono/swagger-ui";
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { HTTPException } from "hono/http-exception";
import { apiCors } from "./cors.ts";
import type { Logger } from "./logger.ts";
import { httpMetrics, METRICS_CONTENT_TYPE, metricsRegistry, metricsText } from "./metrics.ts";
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

/**
 * The frame both tiers share: CORS on every answer (errors included), one log
 * line per request, the contract's error shapes, and the OpenAPI document
 * generated from the routes' schemas.
 */
export function createApiApp(options: ApiAppOptions): ApiApp {
  const app = new OpenAPIHono<ApiEnv>();
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
        (c.get("logger") ?? options.logger).warn(
          { err: error, status: mapped.status },
          mapped.message,
        );
      }
      return c.json(mapped.body, mapped.status as 400, { ...mapped.headers });
    }
    if (error instanceof HTTPException) {
      return c.json({ detail: error.message || "Bad Request" }, error.status);
    }
    (c.get("logger") ?? options.logger).error({ err: error }, "unhandled error");
    return c.json({ detail: "Internal Server Error" }, 500);
  });

  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: { title: options.title, version: options.version, description: options.description },
  });
  app.get("/docs", swaggerUI({ url: "/openapi.json" }));

  app.openAPIRegistry.registerPath(
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
  );
  app.get("/metrics", async (c) =>
    c.body(await metricsText(metrics), 200, { "content-type": METRICS_CONTENT_TYPE }),
  );
  return app;
}
