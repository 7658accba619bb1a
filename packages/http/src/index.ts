export {
  type ApiApp,
  type ApiAppOptions,
  type ApiEnv,
  createApiApp,
  fastApiHook,
} from "./api-app.ts";
export { apiCors } from "./cors.ts";
export { createRoute } from "./create-route.ts";
export { httpMetrics } from "./http-metrics.ts";
export {
  type BodyText,
  type JsonBody,
  MAX_BODY_BYTES,
  orderedJson,
  parseJsonBody,
  rawBody,
  readBodyText,
  readJsonBody,
} from "./json-body.ts";
export { queryBoolean, queryPositiveInteger } from "./query-schemas.ts";
export { type RequestVariables, requestContext, requestLogger } from "./request-context.ts";
export { setResponseHeader } from "./response-headers.ts";
export { type CoverageOptions, undocumentedRoutes } from "./route-coverage.ts";
export { documentedPathOf, openapiAt } from "./route-pattern.ts";
export { type ClosableServer, gracefulStop, stopOnSignals } from "./stop-on-signals.ts";
export { type HttpTier, PREPARE_PATH, PREPARE_PATHS, tierOf } from "./tier-paths.ts";
