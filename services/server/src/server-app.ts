import type { BuildTier } from "@asu/build-tier";
import { type ApiApp, PREPARE_PATH, tierOf } from "@asu/http";
import type { Logger } from "@asu/observability";
import { createBuildCacheProbe, createPrepareApp, type PrepareAppDeps } from "@asu/prepare-tier";

export interface ServerApp {
  /** For @hono/node-server: passes the Node bindings on, so fast-path headers keep working. */
  fetch(request: Request, env?: unknown): Response | Promise<Response>;
  build: ApiApp;
  prepare: ApiApp;
  /** Closes the prepare tier's probe of the build tier. */
  close(): Promise<void>;
}

export interface ServerAppDeps {
  /** The composed build tier; prepare shares its catalogue and package indexes. */
  build: Pick<BuildTier, "app" | "catalog" | "indexes" | "lookup">;
  settings: PrepareAppDeps["settings"];
  /** The prepare tier's logger. */
  logger: Logger;
  version?: string;
}

/**
 * Both HTTP tiers behind one port, split by the same rule as the front door
 * of the microservices stack (tierOf, which the Caddyfile follows). The
 * build tier's OpenAPI document lists the prepare route too.
 */
export function createServerApp(deps: ServerAppDeps): ServerApp {
  const build = deps.build.app;
  // Same process: the build tier's lookup, called directly, not over HTTP.
  const isBuilt = createBuildCacheProbe({
    buildApiUrl: undefined,
    inProcess: { lookup: deps.build.lookup },
  });
  const prepare = createPrepareApp({
    catalog: deps.build.catalog,
    // One reader for both tiers: each index is fetched and parsed once.
    indexes: deps.build.indexes,
    settings: deps.settings,
    isBuilt,
    logger: deps.logger,
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
    fetch: (request, env) => {
      if (tierOf(request.url) === "prepare") return prepare.fetch(request, env);
      return build.fetch(request, env);
    },
    close: async () => isBuilt.close?.(),
  };
}
