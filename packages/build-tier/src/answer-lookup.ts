import type { Logger } from "@asu/observability";
import type { BuildQueue, FoundJob } from "@asu/queue";
import type { BuildStore } from "@asu/store";
import { type BuildAnswer, buildAnswer } from "./build-answer.ts";
import { serverOverloaded } from "./build-errors.ts";
import type { EtaSource } from "./eta-source.ts";
import { createFinishedAnswers, type SerializedAnswer, storedFilesOf } from "./finished-answers.ts";

/** An answer as kept: a finished one serialized in memory, any other as read from its job. */
export type KnownAnswer = BuildAnswer | SerializedAnswer;

/** The jobs one request read, by hash: the rest of the request acts on them as read. */
export type FoundJobs = Map<string, FoundJob>;

export interface AnswerLookupDeps {
  queue: Pick<BuildQueue, "find" | "requeue">;
  /** Finished builds are answered only while their files are in it; lost ones are rebuilt. */
  store: Pick<BuildStore, "has">;
  eta: Pick<EtaSource, "annotate">;
  settings: { max_pending_jobs: number };
  logger: Logger;
}

export interface AnswerLookup {
  /**
   * The answer of a hash, as a POST, a poll or a HEAD sees it; undefined when
   * there is no build of it. Each job read is kept in `found`, so the rest of
   * the request acts on the job as read (drops, rebuilds, requeues it)
   * without reading it again.
   * @throws ApiError 529 when a build whose files were lost cannot be queued again.
   */
  answerFor(requestHash: string, found?: FoundJobs): Promise<KnownAnswer | undefined>;
}

/** What exists for a hash: finished answers from memory, the others from the queue. */
export function createAnswerLookup(deps: AnswerLookupDeps): AnswerLookup {
  const { queue, settings } = deps;
  const finished = createFinishedAnswers();

  async function recordedAnswer(requestHash: string, found: FoundJobs) {
    const remembered = finished.get(requestHash);
    if (remembered) return remembered;
    const job = await queue.find(requestHash);
    if (job) found.set(requestHash, job);
    const snapshot = job?.snapshot;
    if (!snapshot) return undefined;
    const answer = buildAnswer(snapshot);
    finished.remember(requestHash, answer, snapshot.expiresAt);
    return deps.eta.annotate(answer, snapshot);
  }

  /** Done, but its files are gone: build it again from the stored request. */
  async function rebuildLost(requestHash: string, found: FoundJobs) {
    finished.forget(requestHash);
    deps.logger.warn({ request_hash: requestHash }, "stored files lost: building again");
    const job = found.get(requestHash) ?? (await queue.find(requestHash));
    const requeued = job && (await queue.requeue(job, settings.max_pending_jobs));
    if (requeued && !requeued.enqueued) throw serverOverloaded(requeued.waiting);
    return requeued ? buildAnswer(requeued.snapshot) : undefined;
  }

  return {
    async answerFor(requestHash, found = new Map()) {
      const answer = await recordedAnswer(requestHash, found);
      if (answer?.status !== 200) return answer;
      if (await deps.store.has(requestHash, storedFilesOf(answer))) return answer;
      return rebuildLost(requestHash, found);
    },
  };
}
