import { buildRequestSchema, type RequestLimits, requestHash } from "@asu/contract";
import type { Logger, metricsRegistry } from "@asu/observability";
import type { UpstreamVersions } from "@asu/openwrt-releases";
import {
  type BuildJobData,
  type BuildQueue,
  enqueuePrebuild,
  type InfraRetry,
  KEY_PREFIX,
  type PrebuildOutcome,
} from "@asu/queue";
import type { PopularRequests, StatsRecorder } from "@asu/stats";
import {
  type MetadataClient,
  type OpenwrtCatalog,
  type ValidationSettings,
  validateBuildRequest,
} from "@asu/upstream";
import type { Redis } from "ioredis";
import { type BuildJobSettings, buildJobData } from "./build-job.ts";
import { type ReleasePrebuildState, releasePrebuildMetrics } from "./build-metrics.ts";
import { announcedReleases, prebuildBody, prebuildSources } from "./release-plan.ts";

/** Release versions this server has seen: a version is new once, for every replica. */
export const SEEN_RELEASES_KEY = `${KEY_PREFIX}:releases:seen`;
/** Prebuilds not yet counted as succeeded or failed. */
export const PENDING_PREBUILDS_KEY = `${KEY_PREFIX}:prebuilds:pending`;

/*
 * Records the announced versions; returns those this call added. On the
 * very first run (no record yet) everything is recorded and nothing is new:
 * the releases that exist then are not prebuilt. SADD's answer decides, in
 * one script, so of all replicas exactly one acts on a version.
 */
const RECORD_SEEN = `
if #ARGV == 0 then return {} end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SADD', KEYS[1], unpack(ARGV))
  return {}
end
local added = {}
for _, version in ipairs(ARGV) do
  if redis.call('SADD', KEYS[1], version) == 1 then table.insert(added, version) end
end
return added
`;

export interface ReleaseWatcherDeps {
  redis: Redis;
  client: Pick<MetadataClient, "getJson">;
  catalog: OpenwrtCatalog;
  queue: BuildQueue;
  popular: Pick<PopularRequests, "top">;
  settings: ValidationSettings &
    RequestLimits &
    BuildJobSettings & {
      /** RELEASE_PREBUILDS: at most this many per new release. */
      release_prebuilds: number;
      infra_retries?: number;
      infra_retry_delay?: number;
    };
  registry: ReturnType<typeof metricsRegistry>;
  stats?: Pick<StatsRecorder, "record">;
  logger?: Logger;
}

export interface ReleaseWatcher {
  /** Reads `.versions.json` once and prebuilds for each new release; returns the new versions. */
  check(): Promise<string[]>;
  /** Counts prebuilds that finished since the last call. */
  settle(): Promise<void>;
  /** Checks every `intervalMs` (VERSIONS_REFRESH) and settles every `settleMs`; returns the stop. */
  start(intervalMs: number, settleMs?: number): () => void;
}

export function createReleaseWatcher(deps: ReleaseWatcherDeps): ReleaseWatcher {
  const { redis, catalog, settings } = deps;
  const branches = catalog.branches;
  const schema = buildRequestSchema(settings);
  const retry: InfraRetry = {
    retries: settings.infra_retries ?? 0,
    delaySeconds: settings.infra_retry_delay ?? 30,
  };
  const count = prebuildCounter(deps);

  /** The job a router's POST of this body makes. */
  async function jobOf(body: Record<string, unknown>, skip: boolean) {
    const validated = await validateBuildRequest(schema.parse(body), settings, catalog);
    const hash = requestHash(validated.request, { skipPackageResolution: skip });
    return buildJobData(validated, hash, { catalog, settings, skipPackageResolution: skip });
  }

  async function enqueue(data: BuildJobData): Promise<PrebuildOutcome> {
    const outcome = await enqueuePrebuild(deps.queue, data, retry);
    if (outcome === "enqueued") await redis.sadd(PENDING_PREBUILDS_KEY, data.requestHash);
    return outcome;
  }

  async function prebuildRelease(
    version: string,
    seenBefore: string[],
    upstream: UpstreamVersions,
  ) {
    const limit = settings.release_prebuilds;
    const done = new Set<string>();
    const tally = { enqueued: 0, skipped: 0 };
    for (const source of prebuildSources(version, seenBefore, upstream, branches)) {
      for (const { request } of await deps.popular.top(source.branch, limit)) {
        if (tally.enqueued >= limit) break;
        try {
          const body = prebuildBody(request, version, branches);
          const data = await jobOf(body, request.skip_package_resolution);
          if (done.has(data.requestHash)) continue;
          done.add(data.requestHash);
          tally[await enqueue(data)] += 1;
        } catch (error) {
          tally.skipped += 1;
          deps.logger?.info({ version, err: (error as Error).message }, "prebuild skipped");
        }
      }
    }
    count("enqueued", tally.enqueued);
    count("skipped", tally.skipped);
    deps.logger?.info({ version, ...tally }, "new release: popular requests prebuilt");
  }

  async function check() {
    const upstream = await deps.client.getJson<UpstreamVersions>(".versions.json", {
      refresh: true,
    });
    if (!upstream) return [];
    const announced = announcedReleases(upstream, branches);
    const added = (await redis.eval(RECORD_SEEN, 1, SEEN_RELEASES_KEY, ...announced)) as string[];
    if (added.length === 0) return [];
    const fresh = new Set(added);
    const seenBefore = (await redis.smembers(SEEN_RELEASES_KEY)).filter((v) => !fresh.has(v));
    for (const version of added) {
      deps.logger?.info({ version }, "new release announced");
      if (settings.release_prebuilds > 0) await prebuildRelease(version, seenBefore, upstream);
    }
    return added;
  }

  const settle = () => settlePrebuilds(deps, count);
  return {
    check,
    settle,
    start: (intervalMs, settleMs = Math.min(intervalMs, 30_000)) =>
      startTimers({ check, settle }, { intervalMs, settleMs }, deps.logger),
  };
}

/** Counts prebuilds by state: /metrics always, the statistics when given. */
function prebuildCounter(deps: Pick<ReleaseWatcherDeps, "registry" | "stats">) {
  const { prebuilds } = releasePrebuildMetrics(deps.registry);
  return (state: ReleasePrebuildState, n = 1) => {
    if (n <= 0) return;
    prebuilds.inc({ state }, n);
    const event = `prebuilds-${state}` as const;
    for (let i = 0; i < n; i++) deps.stats?.record({ kind: "event", event });
  };
}

/** Counts the prebuilds that finished since the last call, once across replicas. */
async function settlePrebuilds(
  deps: Pick<ReleaseWatcherDeps, "redis" | "queue">,
  count: (state: ReleasePrebuildState) => void,
): Promise<void> {
  const { redis } = deps;
  const hashes = await redis.smembers(PENDING_PREBUILDS_KEY);
  for (const hash of hashes) {
    const state = (await deps.queue.find(hash))?.snapshot?.state;
    if (state !== undefined && state !== "completed" && state !== "failed") continue;
    // SREM's answer: one replica counts each prebuild.
    if ((await redis.srem(PENDING_PREBUILDS_KEY, hash)) !== 1) continue;
    if (state === "completed") count("succeeded");
    else if (state === "failed") count("failed");
  }
}

/** Checks every `intervalMs` and settles every `settleMs`; returns the stop. */
function startTimers(
  watcher: Pick<ReleaseWatcher, "check" | "settle">,
  every: { intervalMs: number; settleMs: number },
  logger: Logger | undefined,
): () => void {
  const onError = (what: string) => (error: Error) =>
    logger?.warn({ err: error.message }, `${what} failed`);
  const checking = setInterval(
    () => watcher.check().catch(onError("reading new releases")),
    every.intervalMs,
  );
  const settling = setInterval(
    () => watcher.settle().catch(onError("counting prebuilds")),
    every.settleMs,
  );
  checking.unref();
  settling.unref();
  // The first check at start: a restart records or acts at once.
  watcher.check().catch(onError("reading new releases"));
  return () => {
    clearInterval(checking);
    clearInterval(settling);
  };
}
