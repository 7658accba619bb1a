import { type BuildAppDeps, createBuildApp } from "@asu/build-api";
import type { ApiApp } from "@asu/http";
import type { Logger } from "@asu/observability";
import { createBuildCacheProbe, createPrepareApp } from "@asu/prepare";
import { createPackageIndexes } from "@asu/upstream";

/** The prepare tier's one route; everything else is the build tier's. */
export const PREPARE_PATH = "/api/v1/build/prepare";

export interface ServerApp {
  /** For @hono/node-server: passes the Node bindings on, so fast-path headers keep working. */
  fetch(request: Request, env?: unknown): Response | Promise<Response>;
  build: ApiApp;
  prepare: ApiApp;
}

export interface ServerAppDeps extends Omit<BuildAppDeps, "logger"> {
  loggers: { build: Logger; prepare: Logger };
}

/** The path of a request URL without parsing it into a URL object on every request. */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start === -1) return "/";
  const query = url.indexOf("?", start);
  return query === -1 ? url.slice(start) : url.slice(start, query);
}

/**
 * Both HTTP tiers behind one port, split exactly as the front door of the
 * microservices stack (Caddyfile) splits them: the prepare path goes to the prepare tier, everything else to
 * the build tier. The build tier's OpenAPI document lists the prepare route too.
 */
export function createServerApp(deps: ServerAppDeps): ServerApp {
  const { loggers, ...buildDeps } = deps;
  // One reader for both tiers: each index is fetched and parsed once.
  const indexes =
    deps.settings.package_check === false
      ? undefined
      : (deps.indexes ??
        createPackageIndexes({ client: deps.client, branches: deps.catalog.branches }));
  const build = createBuildApp({ ...buildDeps, indexes, logger: loggers.build });
  const prepare = createPrepareApp({
    catalog: deps.catalog,
    indexes,
    settings: deps.settings,
    // Same process: ask the build tier directly instead of over the network.
    isBuilt: createBuildCacheProbe({
      buildApiUrl: "http://build.internal",
      fetch: async (input, init) => build.fetch(new Request(input, init)),
    }),
    logger: loggers.prepare,
    version: deps.version,
  });
  for (const definition of prepare.openAPIRegistry.definitions) {
    if (definition.type === "route" && definition.route.path === PREPARE_PATH) {
      build.openAPIRegistry.registerPath(definition.route);
    }
  }
  return {
    build,
    prepare,
    fetch: (request, env) =>
      pathOf(request.url) === PREPARE_PATH
        ? prepare.fetch(request, env)
        : build.fetch(request, env),
  };
}
