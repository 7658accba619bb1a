import { type ApiError, type BuildRequest, requestHash } from "@asu/contract";
import type { Logger } from "@asu/observability";
import type {
  AdmissionRequest,
  BuildJobData,
  BuildQueue,
  Enqueued,
  FoundJob,
  JobSnapshot,
} from "@asu/queue";
import type { OpenwrtCatalog, ValidatedRequest } from "@asu/upstream";
import { LRUCache } from "lru-cache";
import type { AnswerLookup, FoundJobs, KnownAnswer } from "./answer-lookup.ts";
import { type BuildAnswer, buildAnswer } from "./build-answer.ts";
import { type BuildCounters, type CountedClient, extraPackagesOf } from "./build-counters.ts";
import { overItsShare, serverOverloaded } from "./build-errors.ts";
import { type BuildJobSettings, buildJobData } from "./build-job.ts";
import type { EtaSource } from "./eta-source.ts";
import { isOldLuci } from "./old-luci-stages.ts";
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

export interface SubmitSettings extends BuildJobSettings {
  max_pending_jobs: number;
  /** MAX_PENDING_PER_CLIENT; no limit when unset. */
  max_pending_per_client?: number;
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
  /** Admission (queue, share, turn) is its one `enqueueWithin` call. */
  queue: Pick<BuildQueue, "dropExpired" | "rebuildInfrastructureFailure" | "enqueueWithin">;
  eta: Pick<EtaSource, "annotate" | "newBuild">;
  counters: BuildCounters;
  settings: SubmitSettings;
}

/** A POST's answer, with the hash and client it answers for (the route's hooks act on them). */
export interface Submitted {
  answer: KnownAnswer;
  requestHash: string;
  client: string | null | undefined;
}

export interface SubmitBuild {
  /**
   * The answer of a body posted before (same bytes, same query) whose build
   * exists, counted (and promoted when it waits as a prebuild); undefined
   * when the body has to be read.
   */
  knownBody(bodyKey: string | undefined, requester: Requester): Promise<Submitted | undefined>;
  /**
   * A build POST, decided: answered from what exists (a waiting prebuild
   * promoted to this client's turn); failed before the queue (validation:
   * ApiError 400; a package no index has: its failed answer); or admitted
   * and enqueued (202), unless the client is over its share (ApiError 429)
   * or the queue is full (ApiError 529), decided with the enqueue.
   */
  submit(input: SubmitInput): Promise<Submitted>;
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

/** The one place an existing build answers a POST: counted, promoted if a prebuild, returned. */
async function answered(
  deps: SubmitBuildDeps,
  known: KnownAnswer,
  asked: { hash: string; who: CountedClient; found: FoundJobs; requester: Requester },
): Promise<Submitted> {
  deps.counters.count(outcomeOf(known), asked.who);
  const answer = await promoted(deps, asked, known);
  return { answer, requestHash: asked.hash, client: asked.who.client };
}

/**
 * A user's POST for a hash still waiting as a prebuild: the admission
 * script moves it to this client's turn, or (queue or share full) leaves
 * it where it is; either way the answer is the job as it now waits.
 */
async function promoted(
  deps: SubmitBuildDeps,
  asked: { hash: string; found: FoundJobs; requester: Requester },
  known: KnownAnswer,
): Promise<KnownAnswer> {
  const snapshot = asked.found.get(asked.hash)?.snapshot;
  if (!snapshot?.prebuildLane) return known;
  // Stored data, re-added only if the job vanished since: then a user's build.
  const { prebuild: _, ...data } = snapshot.data;
  const admitted = await deps.queue.enqueueWithin(data, admissionOf(deps, asked.requester));
  if (!admitted.enqueued) return known;
  if (admitted.promoted) {
    asked.requester
      .log()
      .info({ request_hash: asked.hash }, "prebuild promoted to the client's turn");
  }
  return annotated(deps, admitted.snapshot);
}

const annotated = (deps: SubmitBuildDeps, snapshot: JobSnapshot) =>
  deps.eta.annotate(buildAnswer(snapshot), snapshot);

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

/** The client a new build counts against (its address), and the limits it is admitted within. */
function admissionOf(deps: SubmitBuildDeps, requester: Requester): AdmissionRequest {
  const { settings } = deps;
  return {
    client: requester.address,
    maxPending: settings.max_pending_jobs,
    maxPerClient: settings.max_pending_per_client ?? 0,
  };
}

/** The answer to a refused build: 429 over the client's share, 529 when the queue is full. */
async function refusal(
  deps: SubmitBuildDeps,
  requester: Requester,
  refused: { refused: string; waiting: number },
): Promise<ApiError> {
  const { waiting } = refused;
  if (refused.refused !== "client-full") return serverOverloaded(waiting);
  const retryAfter = (await deps.eta.newBuild(0)) ?? 60;
  requester
    .log()
    .info({ client: requester.address, waiting }, "build refused: client over its share");
  return overItsShare(waiting, deps.settings.max_pending_per_client ?? 0, retryAfter);
}

/** The hash's old job as this request read it, and whether it is a failure of ours to replace. */
interface OldJob {
  job: FoundJob | undefined;
  replaceable: boolean;
}

/**
 * Into the queue after dropping or reviving the hash's old job as read:
 * the queue, the client's share and its turn decided in one script.
 */
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
  return queue.enqueueWithin(data, admissionOf(deps, requester), {
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
  const admitted = await enqueue(deps, data, requester, old);
  if (!admitted.enqueued) throw await refusal(deps, requester, admitted);
  const { request, image } = data;
  requester
    .log()
    .info(
      { request_hash: data.requestHash, version: request.version, target: request.target, image },
      "build enqueued",
    );
  return annotated(deps, admitted.snapshot);
}

/**
 * The job a new build makes: the one `buildJobData` a release prebuild
 * makes too, and an old LuCI's flag so its polls answer the stages it knows.
 */
function jobDataOf(
  deps: SubmitBuildDeps,
  validated: ValidatedRequest,
  build: { hash: string; skipPackageResolution: boolean; who: CountedClient },
  requester: Requester,
): BuildJobData {
  const { catalog, settings } = deps;
  return {
    ...buildJobData(validated, build.hash, {
      catalog,
      settings,
      skipPackageResolution: build.skipPackageResolution,
      requestId: requester.requestId,
    }),
    ...(isOldLuci(build.who.client) ? { oldLuci: true } : {}),
  };
}

/** A request nothing answers yet: counted as a miss, checked, then queued. */
async function newBuild(
  deps: SubmitBuildDeps,
  validated: ValidatedRequest,
  build: { hash: string; skipPackageResolution: boolean; who: CountedClient },
  requester: Requester,
  old: OldJob,
): Promise<Submitted> {
  const { counters } = deps;
  // The server-side package rules, applied once (in the job data): the
  // statistics, the package check and the worker build this list.
  const data = jobDataOf(deps, validated, build, requester);
  const extra = counters.statsEnabled
    ? [extraPackagesOf(validated.request, data.packages, validated)]
    : [];
  counters.count("miss", build.who, extra);
  const refused = await deps.packageCheck.refuse({ validated, data, log: requester.log() });
  const answer = refused ?? (await admitAndEnqueue(deps, data, requester, old));
  return { answer, requestHash: build.hash, client: build.who.client };
}

/** The build POST's decision, without HTTP: the route parses, calls `submit` and sends. */
export function createSubmitBuild(deps: SubmitBuildDeps): SubmitBuild {
  const bodies = bodyMemory();
  return {
    async knownBody(bodyKey, requester) {
      const seen = bodies.get(bodyKey);
      if (!seen) return undefined;
      const found: FoundJobs = new Map();
      const known = await deps.answers.answerFor(seen.hash, found);
      if (!known || !servesPost(known)) return undefined;
      const who = { client: seen.client, userAgent: requester.userAgent };
      return answered(deps, known, { hash: seen.hash, who, found, requester });
    },

    async submit({ asked, skipPackageResolution, bodyKey, requester }) {
      const who = { client: asked.client, userAgent: requester.userAgent };
      // The jobs this request read, by hash: each is read once.
      const found: FoundJobs = new Map();
      const askedHash = requestHash(asked, { skipPackageResolution });
      const known = await existing(deps, askedHash, found);
      if (known.answer) {
        bodies.remember(bodyKey, askedHash, asked.client);
        return answered(deps, known.answer, { hash: askedHash, who, found, requester });
      }
      const validated = await validate(deps, asked, who);
      const hash = requestHash(validated.request, { skipPackageResolution });
      bodies.remember(bodyKey, hash, asked.client);
      let { replaceable } = known;
      if (hash !== askedHash) {
        const resolved = await existing(deps, hash, found);
        if (resolved.answer)
          return answered(deps, resolved.answer, { hash, who, found, requester });
        replaceable ||= resolved.replaceable;
      }
      const old = { job: found.get(hash), replaceable };
      return newBuild(deps, validated, { hash, skipPackageResolution, who }, requester, old);
    },
  };
}
