import { prepareRequestSchema, withClientDicts } from "@asu/contract";
import {
  type ApiApp,
  type ApiEnv,
  createApiApp,
  createRoute,
  orderedJson,
  PREPARE_PATH,
  rawBody,
  requestLogger,
} from "@asu/http";
import type { Logger } from "@asu/observability";
import { stringifyOrderedJson } from "@asu/python-compat";
import { z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import type { BuildCacheProbe } from "./build-cache-probe.ts";
import { type PrepareDeps, prepareRequest } from "./prepare-request.ts";
import { prepareResponseSchema } from "./prepare-schemas.ts";
import { createPreparedAnswers } from "./prepared-answers.ts";

export interface PrepareAppDeps extends PrepareDeps {
  isBuilt: BuildCacheProbe;
  /** How long an answer is reused for an identical body (default 60 s; 0 disables). */
  answerTtlMs?: number;
  logger: Logger;
  version?: string;
}

/** Only what `send` needs: every object kept is garbage collection work until it expires. */
interface RememberedAnswer {
  branch: string;
  requestHash: string;
  changes: number;
  /** The wire answer as JSON without its closing brace. */
  head: string;
}

const prepareResponses = {
  200: {
    description: "Prepared",
    content: { "application/json": { schema: prepareResponseSchema } },
  },
  400: { description: "Refused by validation: `{detail, status}`" },
  413: { description: "Body larger than 1 MiB" },
  422: { description: "Schema failure, FastAPI's shape" },
  503: { description: "Upstream metadata unavailable" },
};

const healthRoute = createRoute({
  method: "get",
  path: "/health",
  summary: "Liveness: the tier answers",
  responses: {
    200: {
      description: "Alive",
      content: { "application/json": { schema: z.object({ status: z.literal("ok") }) } },
    },
  },
});

export function createPrepareApp(deps: PrepareAppDeps): ApiApp {
  const app = createApiApp({
    title: "ASU prepare tier",
    version: deps.version ?? "0.1.0",
    description: "Validates build requests and shows the package changes a build would make.",
    logger: deps.logger,
  });
  const answers = createPreparedAnswers<RememberedAnswer>({
    ttlMs: deps.answerTtlMs,
    sizeOf: (answer) => answer.head.length,
    keepFromSecondSight: true,
  });

  /** The answer, with whether its hash is already built (that is never remembered). */
  async function send(c: Context<ApiEnv>, answer: RememberedAnswer) {
    const { requestHash } = answer;
    // Debug: a prepare is a preview that many devices repeat; the build tier
    // logs at info when a hash is really enqueued.
    if (deps.logger.isLevelEnabled("debug")) {
      requestLogger(c).debug(
        { request_hash: requestHash, branch: answer.branch, changes: answer.changes },
        "prepared",
      );
    }
    const built = await deps.isBuilt(requestHash);
    return c.body(`${answer.head},"cache_available":${built}}`, 200, {
      "content-type": "application/json",
    });
  }

  // Devices of one model send identical bodies: one seen before is answered
  // before it is parsed or validated again.
  const knownBody: MiddlewareHandler<ApiEnv> = async (c, next) => {
    // c.get, not c.var: Hono builds a new object of all variables for each c.var.
    const answer = answers.get(c.get("bodyText"));
    if (answer) return send(c, answer);
    await next();
  };

  app.openapi(
    createRoute({
      method: "post",
      path: PREPARE_PATH,
      summary: "Show which package changes a build would make",
      description:
        "Validates a build request and resolves its packages (server-side rules and, with `from_version`, the package migrations between the two versions). Send `prepared_request` to `POST /api/v1/build?skip_package_resolution=true` to build exactly that. The body is read as JSON whatever its content type.",
      middleware: [rawBody(), knownBody, orderedJson()] as const,
      request: {
        body: {
          required: true,
          content: {
            "application/json": { schema: prepareRequestSchema(deps.settings) },
          },
        },
      },
      responses: prepareResponses,
    }),
    async (c) => {
      const request = withClientDicts(c.req.valid("json"), c.get("bodyJson"));
      const { branch, ...wire } = await prepareRequest(request, deps);
      // Serialized once: identical bodies get these bytes back, plus cache_available.
      const answer = {
        branch,
        requestHash: wire.request_hash,
        changes: wire.changes.length,
        head: stringifyOrderedJson(wire).slice(0, -1),
      };
      answers.set(c.get("bodyText"), answer);
      return send(c, answer);
    },
  );

  app.openapi(healthRoute, (c) => c.json({ status: "ok" as const }, 200));
  return app;
}
