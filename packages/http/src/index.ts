export {
  type ApiApp,
  type ApiAppOptions,
  type ApiEnv,
  createApiApp,
  fastApiHook,
} from "./api-app.ts";
export { apiCors } from "./cors.ts";
export { httpMetrics } from "./http-metrics.ts";
export {
  type BodyText,
  type JsonBody,
  MAX_BODY_BYTES,
  parseJsonBody,
  readBodyText,
  readJsonBody,
} from "./json-body.ts";
export { type RequestVariables, requestContext } from "./request-context.ts";
export { setResponseHeader } from "./response-headers.ts";
export { type CoverageOptions, undocumentedRoutes } from "./route-coverage.ts";
export { type ClosableServer, gracefulStop, stopOnSignals } from "./stop-on-signals.ts";
