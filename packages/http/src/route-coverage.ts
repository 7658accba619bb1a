import type { ApiApp } from "./api-app.ts";

export interface CoverageOptions {
  /** Paths mounted for people, not clients: pages, their assets, the docs. */
  notApi?: readonly string[];
  /** Methods each path really answers; the others are mounted only to answer 405. */
  allowedMethods?: Readonly<Record<string, string>>;
}

/**
 * The routes an app answers that its /openapi.json does not document, as
 * `METHOD /path` in OpenAPI's spelling (`{param}`). A mounted `prefix/*`
 * counts as documented when some documented path lies under the prefix.
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
    const path = route.path.replace(/:(\w+)/g, "{$1}");
    const key = `${route.method} ${path}`;
    if (path.endsWith("/*")) {
      const prefix = `${route.method} ${path.slice(0, -1)}`;
      if (![...documented].some((entry) => entry.startsWith(prefix))) missing.add(key);
    } else if (!documented.has(key)) {
      missing.add(key);
    }
  }
  return [...missing].sort();
}
