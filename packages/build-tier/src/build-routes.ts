import {
  ApiError,
  type BuildRequest,
  badRequest,
  buildRequestSchema,
  type RequestLimits,
  requestHash,
  withClientDicts,
} from "@asu/contract";
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
import { type Logger, metricsRegistry, registerCollectedGauge } from "@asu/observability";
import { imagebuilderImage, isSnapshot, releaseFallbackImages } from "@asu/openwrt-releases";
import { packagesForBuild } from "@asu/package-rules";
import { stringifyOrderedJson } from "@asu/python-compat";
import {
  type BuildJobData,
  type BuildQueue,
  type FoundJob,
  type JobSnapshot,
  readWorkers,
  resultTtl,
  type TtlSettings,
  WORKER_STATES,
} from "@asu/queue";
import { clientOf, createStatsRecorder, extraPackages, type StatsEntry } from "@asu/stats";
import type { BuildStore } from "@asu/store";
import {
  type MetadataStatsSource,
  type OpenwrtCatalog,
  type PackageIndexes,
  registerUpstreamMetrics,
  type ValidatedRequest,
  type ValidationSettings,
  validateBuildRequest,
} from "@asu/upstream";
import { getConnInfo } from "@hono/node-server/conninfo";
import { z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import type { Redis } from "ioredis";
import { LRUCache } from "lru-cache";
import { type BuildAnswer, buildAnswer } from "./build-answer.ts";
import { createEtaSource, type EtaSource } from "./build-eta.ts";
import { cacheMetrics, refusedBuildMetrics } from "./build-metrics.ts";
import { clientAddress, trustedProxies } from "./client-address.ts";
import { createFairShare } from "./fair-share.ts";
import { createFinishedAnswers, type SerializedAnswer, storedFilesOf } from "./finished-answers.ts";
import { createPackageCheck } from "./package-check.ts";

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

/** The peer's address as the Node server saw it; undefined for in-process requests. */
function peerAddress(c: Context): string | undefined {
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined;
  }
}

/**
 * Wait estimates on every 202 and each client's share of the queue, both
 * kept in Redis so every build-tier replica answers alike. Without Redis
 * (tests of the routes alone) there is neither.
 */
function waitsAndShares(deps: BuildRouteDeps) {
  const { redis, settings } = deps;
  const onError = (error: Error) =>
    deps.logger?.warn({ err: error.message }, "reading wait estimates failed");
  const eta =
    deps.eta ?? (redis ? createEtaSource({ queue: deps.queue, redis, onError }) : undefined);
  const max = settings.max_pending_per_client;
  const shares = redis && max ? createFairShare(redis, { max }) : undefined;
  const trusted = trustedProxies(settings.trusted_proxies ?? []);
  return {
    async annotate(answer: BuildAnswer, snapshot: JobSnapshot): Promise<BuildAnswer> {
      return eta ? eta.annotate(answer, snapshot) : answer;
    },
    /**
     * Counts a new build against its client, or refuses it with 429 when the
     * client has its share waiting. Returns the release for a build that is
     * then not queued after all.
     */
    async admit(c: Context, requestHash: string): Promise<() => Promise<void>> {
      const client =
        shares && clientAddress(peerAddress(c), c.req.header("x-forwarded-for"), trusted);
      if (!shares || !client) return async () => {};
      const { admitted, waiting } = await shares.admit(client, requestHash);
      if (!admitted) {
        const retryAfter = (await eta?.newBuild(0)) ?? 60;
        requestLogger(c).info({ client, waiting }, "build refused: client over its share");
        throw new ApiError(
          429,
          {
            status: 429,
            title: "Too Many Requests",
            detail: `too many builds of this client waiting: ${waiting} (at most ${max}); retry when some have started`,
          },
          { "Retry-After": String(retryAfter) },
        );
      }
      return () => shares.release(client, requestHash);
    },
  };
}

export function registerBuildRoutes(app: ApiApp, deps: BuildRouteDeps): void {
  const { queue, catalog, settings } = deps;
  const schema = buildRequestSchema(settings);
  const finished = createFinishedAnswers();
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
        detail: `server overload, queue contains too many build requests: ${await queue.waitingCount()}`,
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
      const known = await answerFor(seen.hash);
      if (known && servesPost(known)) {
        counters.count(c, outcomeOf(known), seen.client);
        return send(c, known);
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
      return send(c, known);
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
        return send(c, resolved);
      }
    }
    // The server-side package rules, applied once here: the statistics,
    // the package check and the worker build this list.
    const packages = packagesForBuild(request, { skipPackageResolution });
    counters.count(
      c,
      "miss",
      client,
      counters.statsEnabled ? [extraPackagesOf(request, packages, validated)] : [],
    );

    const image = imagebuilderImage(settings.base_container, request.target, request.version);
    const versionPath = catalog.versionPath(request.version);
    if (!image || versionPath === undefined) {
      throw badRequest(`Unsupported version: ${request.version}`);
    }
    const fallbackImages = releaseFallbackImages(
      settings.base_container,
      request.target,
      request.version,
    );
    const upstreamVersionCode = validated.metadata.version_code;
    const data: BuildJobData = {
      request,
      requestHash: hash,
      packages,
      image,
      ...(fallbackImages.length > 0 ? { fallbackImages } : {}),
      ...(upstreamVersionCode ? { upstreamVersionCode } : {}),
      versionPath,
      snapshot: isSnapshot(request.version),
      resultTtl: resultTtl(request, settings),
      failureTtl: settings.build_failure_ttl,
      requestId: c.get("requestId"),
    };

    const refused = await packageCheck?.refuse({ validated, data, log: requestLogger(c) });
    if (refused) return send(c, refused);

    const release = await waits.admit(c, hash);
    let admitted: Awaited<ReturnType<typeof queue.enqueueWithin>>;
    try {
      const job = found.get(hash);
      if (job?.expired) await queue.dropExpired(job);
      if (replaceable && job && (await queue.rebuildInfrastructureFailure(job))) {
        requestLogger(c).info({ request_hash: hash }, "rebuilding after an infrastructure failure");
      }
      admitted = await queue.enqueueWithin(data, settings.max_pending_jobs, {
        retries: settings.infra_retries ?? 0,
        delaySeconds: settings.infra_retry_delay ?? 30,
      });
    } catch (error) {
      await release().catch(() => {});
      throw error;
    }
    if (!admitted.enqueued) {
      await release().catch(() => {});
      throw new ApiError(529, {
        status: 529,
        title: "Server overloaded",
        detail: `server overload, queue contains too many build requests: ${admitted.waiting}`,
      });
    }
    requestLogger(c).info(
      { request_hash: hash, version: request.version, target: request.target, image },
      "build enqueued",
    );
    const queued = admitted.snapshot;
    return send(c, await waits.annotate(buildAnswer(queued), queued));
  });

  const statusRoute = createRoute({
    method: "get",
    path: "/api/v1/build/{request_hash}",
    summary: "The state of a build (also HEAD)",
    request: { params: hashParam },
    responses: answerResponses,
  });
  app.openapi(statusRoute, async (c) => {
    const answer = await answerFor(c.req.valid("param").request_hash);
    if (!answer) return c.json(NOT_FOUND, 404);
    return send(c, answer);
  });

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/stats",
      summary: "Builds waiting in the queue",
      responses: {
        200: {
          description: "Queue length",
          content: {
            "application/json": { schema: z.object({ queue_length: z.number().int() }) },
          },
        },
      },
    }),
    async (c) => c.json({ queue_length: await queue.waitingCount() }, 200),
  );
}
