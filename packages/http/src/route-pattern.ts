import type { RouteConfig, RouteHandler } from "@hono/zod-openapi";
import type { ApiApp, ApiEnv } from "./api-app.ts";

const patternsOf = new WeakMap<ApiApp, Map<string, string>>();

/**
 * `app.openapi` for a route whose parameters hold slashes or end inside a
 * segment (`{path}` is `releases/24.10.0`, `{arch}-index.json`), which
 * Hono's `:param` cannot match: `pattern` spells the same path in Hono's
 * syntax (`:path{.+}`) and mounts the route; the document keeps the
 * route's own path. Validation and types still come from `route`.
 */
export function openapiAt<R extends RouteConfig>(
  app: ApiApp,
  route: R,
  pattern: string,
  handler: RouteHandler<R, ApiEnv>,
): void {
  app.openAPIRegistry.registerPath(route);
  // The pattern holds no `/{`, so app.openapi mounts it as written.
  app.openapi({ ...route, path: pattern, hide: true } as R, handler);
  const patterns = patternsOf.get(app) ?? new Map<string, string>();
  patterns.set(`${route.method.toUpperCase()} ${pattern}`, route.path);
  patternsOf.set(app, patterns);
}

/** The documented path of a route mounted by `openapiAt`. */
export function documentedPathOf(app: ApiApp, method: string, pattern: string): string | undefined {
  return patternsOf.get(app)?.get(`${method} ${pattern}`);
}
