import {
  ApiError,
  type BuildRequest,
  buildRequestSchema,
  type RequestLimits,
  requestHash,
  stringifyOrderedJson,
  withClientDicts,
} from "@asu/core";
import {
  type ApiApp,
  type ApiEnv,
  createRoute,
  orderedJson,
  queryBoolean,
  rawBody,
  requestLogger,
  setResponseHeader,
} from "@asu/http";
import {
  cacheMetrics,
  type Logger,
  type MetadataStatsSource,
  metricsRegistry,
  refusedBuildMetrics,
  registerCollectedGauge,
  registerUpstreamMetrics,
} from "@asu/observability";
import {
  type AdmissionRequest,
  type BuildJobData,
  type BuildQueue,
  type FoundJob,
  type JobSnapshot,
  readWorkers,
  type TtlSettings,
  WORKER_STATES,
} from "@asu/queue";
import {
  clientOf,
  createStatsRecorder,
  extraPackages,
  type PopularRequests,
  type StatsEntry,
} from "@asu/stats";
import type { BuildStore } from "@asu/store";
import {
  type OpenwrtCatalog,
  type PackageIndexes,
  type ValidatedRequest,
  type ValidationSettings,
  validateBuildRequest,
} from "@asu/upstream";
import { z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import type { Redis } from "ioredis";
import { LRUCache } from "lru-cache";
import { createAnswerHooks, peerAddress } from "./answer-hooks.ts";
import { type BuildAnswer, buildAnswer } from "./build-answer.ts";
import { createEtaSource, type EtaSource } from "./build-eta.ts";
import { buildJobData } from "./build-job.ts";
import { clientAddress, trustedProxies } from "./client-address.ts";
import { createFinishedAnswers, type SerializedAnswer, storedFilesOf } from "./finished-answers.ts";
import { isOldLuci } from "./old-luci-stages.ts";
import { createPackageCheck } from "./package-check.ts";
import { POPULAR_SHOWN, popularTop, queueStatsSchema } from "./popular-top.ts";

export interface BuildRouteDeps {
  catalog: OpenwrtCatalog;
  queue: BuildQueue;
  settings: ValidationSettings &
    RequestLimits &
    TtlSettings & {
      base_container: string;
      max_pending_jobs: number;
      /** MAX_PENDING_PER_CLIENT; no limit when unset. */
      max_pending_per_client?: number;
      /** TRUSTED_PROXIES: IPs or CIDRs whose X-Forwarded-For names the client. */
      trusted_proxies?: readonly string[];
      build_failure_ttl: number;
      /** INFRA_RETRIES and INFRA_RETRY_DELAY; no retries when absent. */
      infra_retries?: number;
      infra_retry_delay?: number;
      /** SERVER_STATS. */
      server_stats?: boolean;
    };
  /** Statistics are written here when SERVER_STATS is on; workers are counted from it. */
  redis?: Redis;
  /** Wait estimates; made from `redis` when not given (the home page shares one). */
  eta?: EtaSource;
  /** Finished builds are answered only while their files are in it; lost ones are rebuilt. */
  store?: BuildStore;
  /** The upstream metadata client, whose fetch counts /metrics shows. */
  client?: MetadataStatsSource;
  /** Package indexes: with them (and Redis) a build no index can satisfy fails before the queue. */
  indexes?: PackageIndexes;
  /** Popular release requests are remembered here (RELEASE_PREBUILDS); /api/v1/stats shows their top. */
  popular?: PopularRequests;
  logger?: Logger;
}

/** Queue states /metrics reports, read from BullMQ at scrape time. */
const QUEUE_STATES = [
  "waiting",
  "prioritized",
  "delayed",
  "active",
  "completed",
  "failed",
] as const;

/** How a build request was answered, for the cache counters and statistics. */
type RequestOutcome = "hit" | "miss" | "answered" | "refused";

/**
 * Counts build requests (Prometheus always, statistics when SERVER_STATS is
 * on) and registers the build tier's scrape-time collectors. Statistics are
 * summed in memory and written in one pipeline per second, never on the
 * answer's path: the cache-hit path stays as fast as without them.
 */
function buildTierCounters(app: ApiApp, deps: BuildRouteDeps) {
  const registry = metricsRegistry(app);
  const cache = cacheMetrics(registry);
  const onError = (error: Error) =>
    deps.logger?.warn({ err: error.message }, "reading metrics failed");
  registerCollectedGauge(registry, {
    name: "asu_queue_jobs",
    help: "Build jobs in the queue by state (completed and failed include results not yet expired)",
    labelName: "state",
    read: () => deps.queue.queue.getJobCounts(...QUEUE_STATES),
    onError,
  });
  const { redis } = deps;
  if (redis) {
    registerCollectedGauge(registry, {
      name: "asu_workers",
      help: "Workers that reported within the heartbeat TTL, by state",
      labelName: "state",
      read: async () => {
        const counts: Record<string, number> = Object.fromEntries(
          WORKER_STATES.map((state) => [state, 0]),
        );
        for (const worker of await readWorkers(redis)) {
          counts[worker.state] = (counts[worker.state] ?? 0) + 1;
        }
        return counts;
      },
      onError,
    });
  }
  if (deps.client) registerUpstreamMetrics(registry, deps.client);
  const stats = createStatsRecorder(redis, {
    enabled: deps.settings.server_stats === true,
    onError: (error) => deps.logger?.warn({ err: error.message }, "recording statistics failed"),
  });

  return {
    statsEnabled: stats.enabled,
    count(c: Context, outcome: RequestOutcome, client?: string | null, extra: StatsEntry[] = []) {
      if (outcome === "hit") cache.hits.inc();
      else if (outcome === "miss") cache.misses.inc();
      if (!stats.enabled) return;
      const entries: StatsEntry[] = [{ kind: "event", event: "requests" }];
      if (outcome !== "refused") {
        entries.push({ kind: "client", client: clientOf(client, c.req.header("user-agent")) });
      }
      if (outcome === "hit") entries.push({ kind: "event", event: "cache-hits" });
      if (outcome === "miss") entries.push({ kind: "event", event: "cache-misses" }, ...extra);
      stats.record(...entries);
    },
  };
}

/** The packages a new build adds to the device's defaults, for the statistics. */
function extraPackagesOf(
  request: BuildRequest,
  packages: readonly string[],
  validated: Pick<ValidatedRequest, "metadata" | "branch">,
): StatsEntry {
  const { metadata } = validated;
  return {
    kind: "packages",
    branch: validated.branch.name,
    packages: extraPackages(
      packages,
      metadata.default_packages ?? [],
      metadata.profiles?.[request.profile]?.device_packages ?? [],
    ),
  };
}

/**
 * A failure of ours is never a POST's answer: the same request builds
 * afresh instead. Polls (GET) still see it.
 */
const servesPost = (answer: BuildAnswer | SerializedAnswer): boolean =>
  "json" in answer || answer.body.failure_kind !== "infrastructure";

/** A finished build answers 200: only that is a cache hit. */
const outcomeOf = (answer: BuildAnswer | SerializedAnswer): RequestOutcome =>
  answer.status === 200 ? "hit" : "answered";

const NOT_FOUND = {
  status: 404,
  title: "Not Found",
  detail: "could not find provided request hash",
};

function send(c: Context, answer: BuildAnswer | SerializedAnswer) {
  setResponseHeader(c, "X-Imagebuilder-Status", answer.headers["X-Imagebuilder-Status"]);
  setResponseHeader(c, "X-Queue-Position", answer.headers["X-Queue-Position"]);
  const json = "json" in answer ? answer.json : stringifyOrderedJson(answer.body);
  return c.body(json, answer.status, { "content-type": "application/json" });
}

const answerSchema = z
  .object({
    status: z.number().int(),
    request_hash: z.string(),
    enqueued_at: z.string(),
    request: z.record(z.string(), z.unknown()),
    detail: z.string(),
    imagebuilder_status: z.string().optional(),
    queue_position: z.number().int().optional(),
    eta_seconds: z
      .number()
      .int()
      .optional()
      .openapi({ description: "Expected seconds until the build is done (202 answers)" }),
    stdout: z.string().optional(),
    stderr: z.string().optional(),
    images: z.array(z.record(z.string(), z.unknown())).optional(),
    bin_dir: z.string().optional(),
    manifest: z.record(z.string(), z.string()).optional(),
  })
  .passthrough()
  .openapi("BuildAnswer");

const hashParam = z.object({
  request_hash: z.string().openapi({ param: { name: "request_hash", in: "path" } }),
});
const answerResponses = {
  200: {
    description: "Built: the result",
    content: { "application/json": { schema: answerSchema } },
  },
  202: {
    description: "Queued (`queue_position`) or started (`imagebuilder_status`)",
    content: { "application/json": { schema: answerSchema } },
  },
  404: { description: "Unknown request hash" },
  500: {
    description: "Build failed: `detail`, `stdout`, `stderr`",
    content: { "application/json": { schema: answerSchema } },
  },
};

/**
 * Wait estimates on every 202 (kept in Redis so every build-tier replica
 * answers alike; without Redis, none), and who a new build is counted
 * against: the queue decides its share and its turn (`@asu/queue`).
 */
function waitsAndShares(deps: BuildRouteDeps) {
  const { redis, settings } = deps;
  const onError = (error: Error) =>
    deps.logger?.warn({ err: error.message }, "reading wait estimates failed");
  const eta =
    deps.eta ?? (redis ? createEtaSource({ queue: deps.queue, redis, onError }) : undefined);
  const max = settings.max_pending_per_client ?? 0;
  const trusted = trustedProxies(settings.trusted_proxies ?? []);
  return {
    async annotate(answer: BuildAnswer, snapshot: JobSnapshot): Promise<BuildAnswer> {
      return eta ? eta.annotate(answer, snapshot) : answer;
    },
    /** The client a new build counts against, and the limits it is admitted within. */
    admission(c: Context): AdmissionRequest {
      const client = clientAddress(peerAddress(c), c.req.header("x-forwarded-for"), trusted);
      return { client, maxPending: settings.max_pending_jobs, maxPerClient: max };
    },
    /** The answer to a refused build: 429 over the client's share, 529 when the queue is full. */
    async refusal(c: Context, refused: { refused: string; waiting: number }): Promise<ApiError> {
      const { waiting } = refused;
      if (refused.refused !== "client-full") {
        return new ApiError(529, {
          status: 529,
          title: "Server overloaded",
          detail: `server overload, queue contains too many build requests: ${waiting}`,
        });
      }
      const retryAfter = (await eta?.newBuild(0)) ?? 60;
      requestLogger(c).info({ waiting }, "build refused: client over its share");
      return new ApiError(
        429,
        {
          status: 429,
          title: "Too Many Requests",
          detail: `too many builds of this client waiting: ${waiting} (at most ${max}); retry when some have started`,
        },
        { "Retry-After": String(retryAfter) },
      );
    },
  };
}

export function registerBuildRoutes(app: ApiApp, deps: BuildRouteDeps): void {
  const { queue, catalog, settings } = deps;
  const schema = buildRequestSchema(settings);
  const finished = createFinishedAnswers();
  /**
   * A user's POST for a hash still waiting as a prebuild: the admission
   * script moves it to this client's turn, or (queue or share full) leaves
   * it where it is; either way the answer is the job as it now waits.
   */
  async function promoted(
    c: Context,
    hash: string,
    known: BuildAnswer | SerializedAnswer,
    found: Map<string, FoundJob>,
  ): Promise<BuildAnswer | SerializedAnswer> {
    const snapshot = found.get(hash)?.snapshot;
    if (!snapshot?.prebuildLane) return known;
    // Stored data, re-added only if the job vanished since: then a user's build.
    const { prebuild: _, ...data } = snapshot.data;
    const admitted = await queue.enqueueWithin(data, waits.admission(c));
    if (!admitted.enqueued) return known;
    if (admitted.promoted) {
      requestLogger(c).info({ request_hash: hash }, "prebuild promoted to the client's turn");
    }
    return waits.annotate(buildAnswer(admitted.snapshot), admitted.snapshot);
  }

  // Devices of one model post byte-identical bodies: their hash (and the
  // client they name, for the statistics) is remembered.
  const bodyHashes = new LRUCache<string, { hash: string; client: string | null | undefined }>({
    max: 5000,
    // Keyed by bodies of up to 64 KiB: bounded by bytes too.
    maxSize: 32 * 1024 * 1024,
    sizeCalculation: (entry, key) => 2 * (key.length + (entry.client?.length ?? 0)) + 160,
  });
  const counters = buildTierCounters(app, deps);
  const waits = waitsAndShares(deps);
  const answered = createAnswerHooks({
    queue,
    branches: catalog.branches,
    trustedProxies: settings.trusted_proxies ?? [],
    ...(deps.popular ? { popular: deps.popular } : {}),
    onError: (error) => deps.logger?.warn({ err: error.message }, "after a build answer"),
  });
  const packageCheck =
    deps.indexes && deps.redis
      ? createPackageCheck({
          indexes: deps.indexes,
          redis: deps.redis,
          settings,
          onRefused: refusedBuildMetrics(metricsRegistry(app)).refused.inc,
          ...(deps.logger ? { logger: deps.logger } : {}),
        })
      : undefined;

  /**
   * The answer of a hash. Each job read is kept in `found`, so the rest of
   * the request acts on the job as read (drops, rebuilds, requeues it)
   * without reading it again.
   */
  async function answerFor(requestHash: string, found = new Map<string, FoundJob>()) {
    const answer = await recordedAnswer(requestHash, found);
    if (answer?.status !== 200 || !deps.store) return answer;
    if (await deps.store.has(requestHash, storedFilesOf(answer))) return answer;
    // Done, but its files are gone: build it again from the stored request.
    finished.forget(requestHash);
    deps.logger?.warn({ request_hash: requestHash }, "stored files lost: building again");
    const job = found.get(requestHash) ?? (await queue.find(requestHash));
    const requeued = job && (await queue.requeue(job, settings.max_pending_jobs));
    if (requeued && !requeued.enqueued) {
      throw new ApiError(529, {
        status: 529,
        title: "Server overloaded",
        detail: `server overload, queue contains too many build requests: ${requeued.waiting}`,
      });
    }
    return requeued ? buildAnswer(requeued.snapshot) : undefined;
  }

  async function recordedAnswer(requestHash: string, found: Map<string, FoundJob>) {
    const remembered = finished.get(requestHash);
    if (remembered) return remembered;
    const job = await queue.find(requestHash);
    if (job) found.set(requestHash, job);
    const snapshot = job?.snapshot;
    if (!snapshot) return undefined;
    const answer = buildAnswer(snapshot);
    finished.remember(requestHash, answer, snapshot.expiresAt);
    return waits.annotate(answer, snapshot);
  }

  // Devices of one model post byte-identical bodies: a body seen before is
  // answered from its hash before it is parsed or validated again. Keyed by
  // the query as sent: only a valid one ever reaches the handler that fills it.
  const bodyKey = (c: Context) =>
    `${c.req.query("skip_package_resolution") ?? ""}:${c.var.bodyText}`;
  const knownBody: MiddlewareHandler<ApiEnv> = async (c, next) => {
    const seen = bodyHashes.get(bodyKey(c));
    if (seen) {
      const found = new Map<string, FoundJob>();
      const known = await answerFor(seen.hash, found);
      if (known && servesPost(known)) {
        counters.count(c, outcomeOf(known), seen.client);
        const answer = await promoted(c, seen.hash, known, found);
        return send(c, await answered.post(c, seen.client, seen.hash, answer));
      }
    }
    await next();
  };

  const buildRoute = createRoute({
    method: "post",
    path: "/api/v1/build",
    summary: "Request a firmware build",
    description:
      "Legacy clients send their packages and the server applies its package rules. With `skip_package_resolution=true` the packages are built exactly as sent (a `prepared_request` from `/api/v1/build/prepare`) under a distinct hash. The body is read as JSON whatever its content type.",
    middleware: [rawBody(), knownBody, orderedJson()] as const,
    request: {
      query: z.object({ skip_package_resolution: queryBoolean() }),
      body: { required: true, content: { "application/json": { schema } } },
    },
    responses: {
      ...answerResponses,
      400: { description: "Refused by validation: `{detail, status}`" },
      413: { description: "Body larger than 1 MiB" },
      422: { description: "Schema failure, FastAPI's shape" },
      429: {
        description:
          "This client already has `MAX_PENDING_PER_CLIENT` builds waiting (`Retry-After` says when to try again)",
      },
      529: { description: "Too many builds waiting" },
    },
  });
  app.openapi(buildRoute, async (c) => {
    const { skip_package_resolution: skipPackageResolution } = c.req.valid("query");
    const text = c.var.bodyText;
    const key = bodyKey(c);
    const asked = withClientDicts(c.req.valid("json"), c.var.bodyJson);
    // Set when an answer was a failure of ours: the build is to be replaced.
    let replaceable = false;

    const { client } = asked;
    const askedHash = requestHash(asked, { skipPackageResolution });
    // The jobs this request read, by hash: each is read once.
    const found = new Map<string, FoundJob>();
    const known = await answerFor(askedHash, found);
    if (known && !servesPost(known)) replaceable = true;
    if (known && servesPost(known)) {
      if (text.length <= 64 * 1024) bodyHashes.set(key, { hash: askedHash, client });
      counters.count(c, outcomeOf(known), client);
      const answer = await promoted(c, askedHash, known, found);
      return send(c, await answered.post(c, client, askedHash, answer));
    }

    let validated: ValidatedRequest;
    try {
      validated = await validateBuildRequest(asked, settings, catalog);
    } catch (error) {
      counters.count(c, "refused");
      throw error;
    }
    const { request } = validated;
    const hash = requestHash(request, { skipPackageResolution });
    if (text.length <= 64 * 1024) bodyHashes.set(key, { hash, client });
    if (hash !== askedHash) {
      const resolved = await answerFor(hash, found);
      if (resolved && !servesPost(resolved)) replaceable = true;
      if (resolved && servesPost(resolved)) {
        counters.count(c, outcomeOf(resolved), client);
        const answer = await promoted(c, hash, resolved, found);
        return send(c, await answered.post(c, client, hash, answer));
      }
    }
    // The server-side package rules, applied once here: the statistics,
    // the package check and the worker build this list.
    const data: BuildJobData = {
      ...buildJobData(validated, hash, {
        catalog,
        settings,
        skipPackageResolution,
        requestId: c.get("requestId"),
      }),
      ...(isOldLuci(client) ? { oldLuci: true } : {}),
    };
    const { packages, image } = data;
    counters.count(
      c,
      "miss",
      client,
      counters.statsEnabled ? [extraPackagesOf(request, packages, validated)] : [],
    );

    const refused = await packageCheck?.refuse({ validated, data, log: requestLogger(c) });
    if (refused) return send(c, refused);

    const job = found.get(hash);
    if (job?.expired) await queue.dropExpired(job);
    if (replaceable && job && (await queue.rebuildInfrastructureFailure(job))) {
      requestLogger(c).info({ request_hash: hash }, "rebuilding after an infrastructure failure");
    }
    const admitted = await queue.enqueueWithin(data, waits.admission(c), {
      retries: settings.infra_retries ?? 0,
      delaySeconds: settings.infra_retry_delay ?? 30,
    });
    if (!admitted.enqueued) throw await waits.refusal(c, admitted);
    requestLogger(c).info(
      { request_hash: hash, version: request.version, target: request.target, image },
      "build enqueued",
    );
    const queued = admitted.snapshot;
    return send(
      c,
      await answered.post(c, client, hash, await waits.annotate(buildAnswer(queued), queued)),
    );
  });

  const statusRoute = createRoute({
    method: "get",
    path: "/api/v1/build/{request_hash}",
    summary: "The state of a build (also HEAD)",
    request: { params: hashParam },
    responses: answerResponses,
  });
  app.openapi(statusRoute, async (c) => {
    const hash = c.req.valid("param").request_hash;
    const answer = await answerFor(hash);
    if (!answer) return c.json(NOT_FOUND, 404);
    answered.poll(c, hash, answer);
    return send(c, answer);
  });

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
          popular_requests: deps.popular
            ? await popularTop(deps.popular, catalog.branches, POPULAR_SHOWN)
            : [],
        },
        200,
      ),
  );
}
