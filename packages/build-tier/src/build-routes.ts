import { buildRequestSchema, type RequestLimits, withClientDicts } from "@asu/contract";
import {
  type ApiApp,
  type ApiEnv,
  createRoute,
  orderedJson,
  rawBody,
  requestLogger,
  setResponseHeader,
} from "@asu/http";
import { type Logger, metricsRegistry } from "@asu/observability";
import { stringifyOrderedJson } from "@asu/python-compat";
import type { BuildQueue, TtlSettings } from "@asu/queue";
import type { PopularRequests, StatsRecorder } from "@asu/stats";
import type { BuildStore } from "@asu/store";
import {
  type MetadataStatsSource,
  type OpenwrtCatalog,
  type ValidationSettings,
  validateBuildRequest,
} from "@asu/upstream";
import type { Context, MiddlewareHandler } from "hono";
import type { Redis } from "ioredis";
import { createAnswerHooks, peerAddress } from "./answer-hooks.ts";
import { type AnswerLookup, createAnswerLookup, type KnownAnswer } from "./answer-lookup.ts";
import { createBuildCounters, registerBuildTierCollectors } from "./build-counters.ts";
import {
  answerResponses,
  buildQuery,
  buildResponses,
  hashParam,
  NOT_FOUND,
} from "./build-schemas.ts";
import { clientAddress, trustedProxies } from "./client-address.ts";
import type { EtaSource } from "./eta-source.ts";
import type { PackageCheck } from "./package-check.ts";
import { POPULAR_SHOWN, popularTop, queueStatsSchema } from "./popular-top.ts";
import {
  createSubmitBuild,
  MAX_REMEMBERED_BODY,
  type Requester,
  type SubmitBuild,
  type SubmitSettings,
  type Submitted,
} from "./submit-build.ts";

export interface BuildRouteDeps {
  catalog: OpenwrtCatalog;
  queue: BuildQueue;
  settings: ValidationSettings &
    RequestLimits &
    TtlSettings &
    SubmitSettings & {
      /** TRUSTED_PROXIES: IPs or CIDRs whose X-Forwarded-For names the client. */
      trusted_proxies?: readonly string[];
    };
  /** Where workers are counted from. */
  redis: Redis;
  /** Wait estimates on every 202 (the home page shares one). */
  eta: EtaSource;
  /** Finished builds are answered only while their files are in it; lost ones are rebuilt. */
  store: Pick<BuildStore, "has">;
  /** The upstream metadata client, whose fetch counts /metrics shows. */
  client: MetadataStatsSource;
  /** The build tier's one statistics recorder (SERVER_STATS). */
  stats: StatsRecorder;
  /** What a build no index can satisfy meets before the queue. */
  packageCheck: PackageCheck;
  logger: Logger;
  /** Popular release requests are remembered here (RELEASE_PREBUILDS); /api/v1/stats shows their top. */
  popular?: PopularRequests;
}

type AnswerHooks = ReturnType<typeof createAnswerHooks>;

/** The one place an answer is sent: its headers, and its body as kept or serialized in order. */
function send(c: Context, answer: KnownAnswer) {
  setResponseHeader(c, "X-Imagebuilder-Status", answer.headers["X-Imagebuilder-Status"]);
  setResponseHeader(c, "X-Queue-Position", answer.headers["X-Queue-Position"]);
  const json = "json" in answer ? answer.json : stringifyOrderedJson(answer.body);
  return c.body(json, answer.status, { "content-type": "application/json" });
}

/** The use case of the build POST, composed from the route's dependencies. */
function submitBuildOf(app: ApiApp, deps: BuildRouteDeps, answers: AnswerLookup): SubmitBuild {
  const { settings, catalog } = deps;
  const registry = metricsRegistry(app);
  const counters = createBuildCounters(registry, deps.stats);
  registerBuildTierCollectors(registry, deps);
  return createSubmitBuild({
    answers,
    validate: (asked) => validateBuildRequest(asked, settings, catalog),
    catalog,
    packageCheck: deps.packageCheck,
    queue: deps.queue,
    eta: deps.eta,
    counters,
    settings,
  });
}

/**
 * POST /api/v1/build: parse, ask the use case, send its answer after the
 * hooks (an old LuCI's job flagged and its stages mapped, popular requests).
 */
function registerBuildPost(
  app: ApiApp,
  deps: BuildRouteDeps,
  submitter: SubmitBuild,
  hooks: AnswerHooks,
): void {
  const trusted = trustedProxies(deps.settings.trusted_proxies ?? []);
  const requesterOf = (c: Context<ApiEnv>): Requester => ({
    address: clientAddress(peerAddress(c), c.req.header("x-forwarded-for"), trusted),
    userAgent: c.req.header("user-agent"),
    requestId: c.get("requestId"),
    log: () => requestLogger(c),
  });
  // Keyed by the query as sent: only a valid one ever reaches the handler that remembers it.
  const bodyKey = (c: Context<ApiEnv>) =>
    c.var.bodyText.length <= MAX_REMEMBERED_BODY
      ? `${c.req.query("skip_package_resolution") ?? ""}:${c.var.bodyText}`
      : undefined;
  const sendPost = async (c: Context, { answer, requestHash, client }: Submitted) =>
    send(c, await hooks.post(c, client, requestHash, answer));
  // A body seen before is answered from its hash before it is parsed or validated again.
  const knownBody: MiddlewareHandler<ApiEnv> = async (c, next) => {
    const known = await submitter.knownBody(bodyKey(c), requesterOf(c));
    if (known) return sendPost(c, known);
    await next();
  };
  const route = createRoute({
    method: "post",
    path: "/api/v1/build",
    summary: "Request a firmware build",
    description:
      "Legacy clients send their packages and the server applies its package rules. With `skip_package_resolution=true` the packages are built exactly as sent (a `prepared_request` from `/api/v1/build/prepare`) under a distinct hash. The body is read as JSON whatever its content type.",
    middleware: [rawBody(), knownBody, orderedJson()] as const,
    request: {
      query: buildQuery,
      body: {
        required: true,
        content: { "application/json": { schema: buildRequestSchema(deps.settings) } },
      },
    },
    responses: buildResponses,
  });
  app.openapi(route, async (c) => {
    const submitted = await submitter.submit({
      asked: withClientDicts(c.req.valid("json"), c.var.bodyJson),
      skipPackageResolution: c.req.valid("query").skip_package_resolution,
      bodyKey: bodyKey(c),
      requester: requesterOf(c),
    });
    return sendPost(c, submitted);
  });
}

/** GET (and HEAD) /api/v1/build/{request_hash}: a poll (never a promotion). */
function registerStatusRoute(app: ApiApp, answers: AnswerLookup, hooks: AnswerHooks): void {
  const route = createRoute({
    method: "get",
    path: "/api/v1/build/{request_hash}",
    summary: "The state of a build (also HEAD)",
    request: { params: hashParam },
    responses: answerResponses,
  });
  app.openapi(route, async (c) => {
    const hash = c.req.valid("param").request_hash;
    const answer = await answers.answerFor(hash);
    if (!answer) return c.json(NOT_FOUND, 404);
    hooks.poll(c, hash, answer);
    return send(c, answer);
  });
}

export function registerBuildRoutes(app: ApiApp, deps: BuildRouteDeps): void {
  const { queue, catalog, popular } = deps;
  const answers = createAnswerLookup(deps);
  const hooks = createAnswerHooks({
    queue,
    branches: catalog.branches,
    trustedProxies: deps.settings.trusted_proxies ?? [],
    ...(popular ? { popular } : {}),
    onError: (error) => deps.logger.warn({ err: error.message }, "after a build answer"),
  });
  registerBuildPost(app, deps, submitBuildOf(app, deps, answers), hooks);
  registerStatusRoute(app, answers, hooks);
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/stats",
      summary: "Builds waiting in the queue",
      responses: {
        200: {
          description: "Queue length, and the popular release requests prebuilt on a release day",
          content: { "application/json": { schema: queueStatsSchema } },
        },
      },
    }),
    async (c) =>
      c.json(
        {
          queue_length: await queue.waitingCount(),
          popular_requests: popular
            ? await popularTop(popular, catalog.branches, POPULAR_SHOWN)
            : [],
        },
        200,
      ),
  );
}
