import {
  type Branch,
  badRequest,
  findBranch,
  prepareRequestSchema,
  type RequestLimits,
  requestHash,
  resolvePackages,
  toFastApiErrors,
} from "@asu/core";
import { type ApiApp, createApiApp, type Logger, readJsonBody } from "@asu/http";
import { type OpenwrtCatalog, type ValidationSettings, validateBuildRequest } from "@asu/upstream";
import { createRoute } from "@hono/zod-openapi";
import type { BuildCacheProbe } from "./build-cache-probe.ts";
import { prepareResponseSchema } from "./prepare-schemas.ts";

export interface PrepareAppDeps {
  catalog: OpenwrtCatalog;
  settings: ValidationSettings & RequestLimits;
  isBuilt: BuildCacheProbe;
  logger: Logger;
  version?: string;
}

const prepareRoute = createRoute({
  method: "post",
  path: "/api/v1/build/prepare",
  summary: "Show which package changes a build would make",
  description:
    "Validates a build request and resolves its packages (server-side rules and, with `from_version`, the package migrations between the two versions). Send `prepared_request` to `POST /api/v1/build?skip_package_resolution=true` to build exactly that.",
  request: {
    body: {
      required: true,
      content: {
        "application/json": {
          schema: prepareRequestSchema({ maxCustomRootfsSizeMb: 1024, maxDefaultsLength: 20480 }),
        },
      },
    },
  },
  responses: {
    200: {
      description: "Prepared",
      content: { "application/json": { schema: prepareResponseSchema } },
    },
    400: { description: "Refused by validation: `{detail, status}`" },
    413: { description: "Body larger than 1 MiB" },
    422: { description: "Schema failure, FastAPI's shape" },
    503: { description: "Upstream metadata unavailable" },
  },
});

function versionBranch(version: string, branches: readonly Branch[]) {
  const branch = findBranch(version, branches);
  return branch?.enabled ? branch : undefined;
}

export function createPrepareApp(deps: PrepareAppDeps): ApiApp {
  const app = createApiApp({
    title: "ASU prepare tier",
    version: deps.version ?? "0.1.0",
    description: "Validates build requests and shows the package changes a build would make.",
    logger: deps.logger,
  });
  const schema = prepareRequestSchema({
    maxCustomRootfsSizeMb: deps.settings.maxCustomRootfsSizeMb,
    maxDefaultsLength: deps.settings.maxDefaultsLength,
  });

  app.openAPIRegistry.registerPath(prepareRoute);
  app.post(prepareRoute.path, async (c) => {
    const body = await readJsonBody(c);
    if (!body.ok) throw body.error;
    const parsed = schema.safeParse(body.value);
    if (!parsed.success) return c.json(toFastApiErrors(parsed.error, body.value), 422);
    const { from_version: fromVersion, ...buildRequest } = parsed.data;

    const { request, branch } = await validateBuildRequest(
      buildRequest,
      deps.settings,
      deps.catalog,
    );
    if (fromVersion && !versionBranch(fromVersion, deps.catalog.branches)) {
      throw badRequest(`Unsupported from_version: ${fromVersion}`);
    }

    const pinned = request.packages_versions;
    const requested = Object.keys(pinned).length > 0 ? Object.keys(pinned) : request.packages;
    const resolution = resolvePackages({
      version: request.version,
      target: request.target,
      profile: request.profile,
      packages: requested,
      fromVersion: fromVersion ?? null,
      branches: deps.catalog.branches,
    });
    const preparedRequest = {
      ...request,
      packages: resolution.packages,
      packages_versions: Object.fromEntries(
        Object.entries(pinned).filter(([name]) => resolution.packages.includes(name)),
      ),
    };
    const hash = requestHash(preparedRequest, { skipPackageResolution: true });
    c.var.logger.info(
      { request_hash: hash, branch: branch.name, changes: resolution.changes.length },
      "prepared",
    );
    return c.json(
      {
        status: "prepared" as const,
        original_packages: buildRequest.packages,
        resolved_packages: resolution.packages,
        changes: resolution.changes,
        prepared_request: preparedRequest,
        request_hash: hash,
        cache_available: await deps.isBuilt(hash),
      },
      200,
    );
  });

  app.get("/health", (c) => c.json({ status: "ok" }));
  return app;
}
