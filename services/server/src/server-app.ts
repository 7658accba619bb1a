import { type BuildTier, COMPLETED_HASHES_PATH } from "@asu/build-tier";
import { type ApiApp, PREPARE_PATH, tierOf } from "@asu/http";
import type { Logger } from "@asu/observability";
import {
  createBuildCacheProbe,
  createPrepareApp,
  type PrepareAppDeps,
  registerMirrorMetric,
} from "@asu/prepare-tier";

export interface ServerApp {
  /** For @hono/node-server: passes the Node bindings on, so fast-path headers keep working. */
  fetch(request: Request, env?: unknown): Response | Promise<Response>;
  build: ApiApp;
  prepare: ApiApp;
  /** Stops the prepare tier's reads of the build tier (its mirror of finished builds). */
  close(): Promise<void>;
}

export interface ServerAppDeps {
  /** The composed build tier; prepare shares its catalogue and package indexes. */
  build: Pick<BuildTier, "app" | "catalog" | "indexes">;
  settings: PrepareAppDeps["settings"];
  /** The prepare tier's logger. */
  logger: Logger;
  version?: string;
}

/** The list's path however it is spelt: the router decodes escapes before it matches. */
function isCompletedHashesPath(url: string): boolean {
  if (!url.includes(COMPLETED_HASHES_PATH) && !url.includes("%")) return false;
  try {
    return decodeURIComponent(new URL(url).pathname) === COMPLETED_HASHES_PATH;
  } catch {
    return false;
  }
}

/**
 * Both HTTP tiers behind one port, split by the same rule as the front door
 * of the microservices stack (tierOf, which the Caddyfile follows). The
 * build tier's OpenAPI document lists the prepare route too. The list of
 * finished builds is for the prepare tier only, as behind the front door:
 * it would let anyone enumerate every build and its request.
 */
export function createServerApp(deps: ServerAppDeps): ServerApp {
  const build = deps.build.app;
  // Same process: ask the build tier directly instead of over the network.
  const isBuilt = createBuildCacheProbe({
    buildApiUrl: "http://build.internal",
    fetch: async (input, init) => build.fetch(new Request(input, init)),
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
  // One port, one /metrics: the build tier's.
  registerMirrorMetric(build, isBuilt);
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
      if (isCompletedHashesPath(request.url)) {
        return Response.json({ detail: "Not Found" }, { status: 404 });
      }
      return build.fetch(request, env);
    },
    close: async () => isBuilt.close?.(),
  };
}
