import type { ApiApp } from "./api-app.ts";
import { documentedPathOf } from "./route-pattern.ts";

export interface CoverageOptions {
  /** Paths mounted for people, not clients: pages, their assets, the docs. */
  notApi?: readonly string[];
  /** Methods each path really answers; the others are mounted only to answer 405. */
  allowedMethods?: Readonly<Record<string, string>>;
}

/**
 * The routes an app answers that its /openapi.json does not document, as
 * `METHOD /path` in OpenAPI's spelling (`{param}`). A route mounted with
 * `openapiAt` is looked up under its documented path; a mounted wildcard
 * (`prefix/*`) is never documented, so it is always reported.
 */
export function undocumentedRoutes(app: ApiApp, options: CoverageOptions = {}): string[] {
  const notApi = new Set([...(options.notApi ?? []), "/docs", "/openapi.json"]);
  const document = app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: { title: "coverage", version: "0" },
  });
  const documented = new Set<string>();
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const method of Object.keys(item ?? {})) documented.add(`${method.toUpperCase()} ${path}`);
  }
  const missing = new Set<string>();
  for (const route of app.routes) {
    // Middleware is mounted for every method.
    if (route.method === "ALL" || notApi.has(route.path)) continue;
    const allowed = options.allowedMethods?.[route.path];
    if (allowed !== undefined && !allowed.split(/,\s*/).includes(route.method)) continue;
    const path =
      documentedPathOf(app, route.method, route.path) ?? route.path.replace(/:(\w+)/g, "{$1}");
    const key = `${route.method} ${path}`;
    if (!documented.has(key)) missing.add(key);
  }
  return [...missing].sort();
}
