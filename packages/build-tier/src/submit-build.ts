import {
  type BuildRequest,
  badRequest,
  imagebuilderImage,
  isSnapshot,
  packagesForBuild,
  releaseFallbackImages,
  requestHash,
} from "@asu/core";
import type { Logger } from "@asu/observability";
import {
  type BuildJobData,
  type BuildQueue,
  type Enqueued,
  type FoundJob,
  resultTtl,
  type TtlSettings,
} from "@asu/queue";
import type { OpenwrtCatalog, ValidatedRequest } from "@asu/upstream";
import { LRUCache } from "lru-cache";
import type { AnswerLookup, FoundJobs, KnownAnswer } from "./answer-lookup.ts";
import { type BuildAnswer, buildAnswer } from "./build-answer.ts";
import { type BuildCounters, type CountedClient, extraPackagesOf } from "./build-counters.ts";
import { overItsShare, serverOverloaded } from "./build-errors.ts";
import type { EtaSource } from "./build-eta.ts";
import type { FairShare } from "./fair-share.ts";
import type { PackageCheck } from "./package-check.ts";

/** Who posted a build, as the route read it from the HTTP request. */
export interface Requester {
  /** The client's address, whose share of the queue a new build counts against; undefined in-process. */
  address: string | undefined;
  /** Names the client in the statistics when the request does not. */
  userAgent: string | undefined;
  requestId: string;
  /** The request's logger (made on first use). */
  log(): Logger;
}

export interface SubmitInput {
  /** The body as parsed, with the client's own dicts. */
  asked: BuildRequest;
  skipPackageResolution: boolean;
  /** The body's key in the memory of bodies seen (`bodyKey`); undefined for a body too large to keep. */
  bodyKey: string | undefined;
  requester: Requester;
}

export interface SubmitSettings extends TtlSettings {
  base_container: string;
  max_pending_jobs: number;
  build_failure_ttl: number;
  /** INFRA_RETRIES and INFRA_RETRY_DELAY; no retries when absent. */
  infra_retries?: number;
  infra_retry_delay?: number;
}

export interface SubmitBuildDeps {
  answers: AnswerLookup;
  /** The contract's validation over the catalogue; @throws ApiError 400. */
  validate(asked: BuildRequest): Promise<ValidatedRequest>;
  catalog: Pick<OpenwrtCatalog, "versionPath">;
  packageCheck: PackageCheck;
  queue: Pick<BuildQueue, "dropExpired" | "rebuildInfrastructureFailure" | "enqueueWithin">;
  share: FairShare;
  eta: Pick<EtaSource, "annotate" | "newBuild">;
  counters: BuildCounters;
  settings: SubmitSettings;
}

export interface SubmitBuild {
  /**
   * The answer of a body posted before (same bytes, same query) whose build
   * exists, counted; undefined when the body has to be read.
   */
  knownBody(bodyKey: string | undefined, requester: Requester): Promise<KnownAnswer | undefined>;
  /**
   * A build POST, decided: answered from what exists; failed before the
   * queue (validation: ApiError 400; a package no index has: its failed
   * answer); or admitted and enqueued (202), unless the client is over its
   * share (ApiError 429) or the queue is full (ApiError 529).
   */
  submit(input: SubmitInput): Promise<KnownAnswer>;
}

/** Bodies up to this many characters are remembered with their hash. */
export const MAX_REMEMBERED_BODY = 64 * 1024;

/**
 * A failure of ours is never a POST's answer: the same request builds
 * afresh instead. Polls (GET) still see it.
 */
export const servesPost = (answer: KnownAnswer): boolean =>
  "json" in answer || answer.body.failure_kind !== "infrastructure";

/** A finished build answers 200: only that is a cache hit. */
const outcomeOf = (answer: KnownAnswer) => (answer.status === 200 ? "hit" : "answered");

/**
 * Devices of one model post byte-identical bodies: the hash of a body seen
 * before (and the client it names, for the statistics) is remembered, so it
 * is answered before it is parsed or validated again.
 */
function bodyMemory() {
  const hashes = new LRUCache<string, { hash: string; client: string | null | undefined }>({
    max: 5000,
    // Keyed by bodies of up to 64 KiB: bounded by bytes too.
    maxSize: 32 * 1024 * 1024,
    sizeCalculation: (entry, key) => 2 * (key.length + (entry.client?.length ?? 0)) + 160,
  });
  return {
    get: (key: string | undefined) => (key === undefined ? undefined : hashes.get(key)),
    remember(key: string | undefined, hash: string, client: string | null | undefined) {
      if (key !== undefined) hashes.set(key, { hash, client });
    },
  };
}

/** What a worker needs to build the validated request; @throws ApiError 400 for a version without an image. */
function jobDataOf(
  validated: ValidatedRequest,
  build: { hash: string; packages: string[]; requestId: string },
  deps: Pick<SubmitBuildDeps, "catalog" | "settings">,
): BuildJobData {
  const { request } = validated;
  const { settings } = deps;
  const image = imagebuilderImage(settings.base_container, request.target, request.version);
  const versionPath = deps.catalog.versionPath(request.version);
  if (!image || versionPath === undefined) {
    throw badRequest(`Unsupported version: ${request.version}`);
  }
  const fallbackImages = releaseFallbackImages(
    settings.base_container,
    request.target,
    request.version,
  );
  const upstreamVersionCode = validated.metadata.version_code;
  return {
    request,
    requestHash: build.hash,
    packages: build.packages,
    image,
    ...(fallbackImages.length > 0 ? { fallbackImages } : {}),
    ...(upstreamVersionCode ? { upstreamVersionCode } : {}),
    versionPath,
    snapshot: isSnapshot(request.version),
    resultTtl: resultTtl(request, settings),
    failureTtl: settings.build_failure_ttl,
    requestId: build.requestId,
  };
}

/** The one place an existing build answers a POST: counted, then returned to be sent. */
function answered(deps: SubmitBuildDeps, answer: KnownAnswer, who: CountedClient): KnownAnswer {
  deps.counters.count(outcomeOf(answer), who);
  return answer;
}

/** The answer of a hash when a POST may be given it; `replaceable` when it is a failure of ours. */
async function existing(deps: SubmitBuildDeps, hash: string, found: FoundJobs) {
  const answer = await deps.answers.answerFor(hash, found);
  if (answer && servesPost(answer)) return { answer, replaceable: false };
  return { answer: undefined, replaceable: answer !== undefined };
}

async function validate(
  deps: SubmitBuildDeps,
  asked: BuildRequest,
  who: CountedClient,
): Promise<ValidatedRequest> {
  try {
    return await deps.validate(asked);
  } catch (error) {
    deps.counters.count("refused", { userAgent: who.userAgent });
    throw error;
  }
}

/**
 * Counts a new build against its client's share of the queue, or refuses
 * it with 429. Returns the release for a build that is then not queued.
 */
async function claimShare(deps: SubmitBuildDeps, requester: Requester, hash: string) {
  const { address } = requester;
  if (!address) return async () => {};
  const { admitted, waiting } = await deps.share.admit(address, hash);
  if (!admitted) {
    const retryAfter = (await deps.eta.newBuild(0)) ?? 60;
    requester.log().info({ client: address, waiting }, "build refused: client over its share");
    throw overItsShare(waiting, deps.share.max, retryAfter);
  }
  return () => deps.share.release(address, hash);
}

/** The hash's old job as this request read it, and whether it is a failure of ours to replace. */
interface OldJob {
  job: FoundJob | undefined;
  replaceable: boolean;
}

/** Into the queue within MAX_PENDING_JOBS, after dropping or reviving the hash's old job as read. */
async function enqueue(
  deps: SubmitBuildDeps,
  data: BuildJobData,
  requester: Requester,
  old: OldJob,
): Promise<Enqueued> {
  const { queue, settings } = deps;
  const { job } = old;
  if (job?.expired) await queue.dropExpired(job);
  if (old.replaceable && job && (await queue.rebuildInfrastructureFailure(job))) {
    requester
      .log()
      .info({ request_hash: data.requestHash }, "rebuilding after an infrastructure failure");
  }
  return queue.enqueueWithin(data, settings.max_pending_jobs, {
    retries: settings.infra_retries ?? 0,
    delaySeconds: settings.infra_retry_delay ?? 30,
  });
}

/** The one place a new build is admitted and enqueued, with its client. */
async function admitAndEnqueue(
  deps: SubmitBuildDeps,
  data: BuildJobData,
  requester: Requester,
  old: OldJob,
): Promise<BuildAnswer> {
  const release = await claimShare(deps, requester, data.requestHash);
  let admitted: Enqueued;
  try {
    admitted = await enqueue(deps, data, requester, old);
  } catch (error) {
    await release().catch(() => {});
    throw error;
  }
  if (!admitted.enqueued) {
    await release().catch(() => {});
    throw serverOverloaded(admitted.waiting);
  }
  const { request, image } = data;
  requester
    .log()
    .info(
      { request_hash: data.requestHash, version: request.version, target: request.target, image },
      "build enqueued",
    );
  return deps.eta.annotate(buildAnswer(admitted.snapshot), admitted.snapshot);
}

/** A request nothing answers yet: counted as a miss, checked, then queued. */
async function newBuild(
  deps: SubmitBuildDeps,
  validated: ValidatedRequest,
  build: { hash: string; skipPackageResolution: boolean; who: CountedClient },
  requester: Requester,
  old: OldJob,
): Promise<BuildAnswer> {
  const { request } = validated;
  const { counters } = deps;
  // The server-side package rules, applied once here: the statistics,
  // the package check and the worker build this list.
  const packages = packagesForBuild(request, {
    skipPackageResolution: build.skipPackageResolution,
  });
  const extra = counters.statsEnabled ? [extraPackagesOf(request, packages, validated)] : [];
  counters.count("miss", build.who, extra);
  const data = jobDataOf(
    validated,
    { hash: build.hash, packages, requestId: requester.requestId },
    deps,
  );
  const refused = await deps.packageCheck.refuse({ validated, data, log: requester.log() });
  if (refused) return refused;
  return admitAndEnqueue(deps, data, requester, old);
}

/** The build POST's decision, without HTTP: the route parses, calls `submit` and sends. */
export function createSubmitBuild(deps: SubmitBuildDeps): SubmitBuild {
  const bodies = bodyMemory();
  return {
    async knownBody(bodyKey, requester) {
      const seen = bodies.get(bodyKey);
      if (!seen) return undefined;
      const known = await deps.answers.answerFor(seen.hash);
      if (!known || !servesPost(known)) return undefined;
      return answered(deps, known, { client: seen.client, userAgent: requester.userAgent });
    },

    async submit({ asked, skipPackageResolution, bodyKey, requester }) {
      const who = { client: asked.client, userAgent: requester.userAgent };
      // The jobs this request read, by hash: each is read once.
      const found: FoundJobs = new Map();
      const askedHash = requestHash(asked, { skipPackageResolution });
      const known = await existing(deps, askedHash, found);
      if (known.answer) {
        bodies.remember(bodyKey, askedHash, asked.client);
        return answered(deps, known.answer, who);
      }
      const validated = await validate(deps, asked, who);
      const hash = requestHash(validated.request, { skipPackageResolution });
      bodies.remember(bodyKey, hash, asked.client);
      let { replaceable } = known;
      if (hash !== askedHash) {
        const resolved = await existing(deps, hash, found);
        if (resolved.answer) return answered(deps, resolved.answer, who);
        replaceable ||= resolved.replaceable;
      }
      const old = { job: found.get(hash), replaceable };
      return newBuild(deps, validated, { hash, skipPackageResolution, who }, requester, old);
    },
  };
}
