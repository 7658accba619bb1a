import { queryBoolean } from "@asu/http";
import { type Branch, branchOf } from "@asu/openwrt-releases";
import { type BuildQueue, flagOldLuci } from "@asu/queue";
import { type PopularCandidate, type PopularRequests, popularCandidate } from "@asu/stats";
import { getConnInfo } from "@hono/node-server/conninfo";
import type { Context } from "hono";
import { LRUCache } from "lru-cache";
import type { BuildAnswer } from "./build-answer.ts";
import { clientAddress, trustedProxies } from "./client-address.ts";
import type { SerializedAnswer } from "./finished-answers.ts";
import { answerForOldLuci, isOldLuci } from "./old-luci-stages.ts";

type Answer = BuildAnswer | SerializedAnswer;

export interface AnswerHooksDeps {
  queue: BuildQueue;
  branches: readonly Branch[];
  /** TRUSTED_PROXIES, to name the client as the per-client share does. */
  trustedProxies: readonly string[];
  /** Popular requests are remembered here when given (RELEASE_PREBUILDS > 0 and Redis). */
  popular?: PopularRequests;
  onError?: (error: Error) => void;
}

/** The peer's address as the Node server saw it; undefined for in-process requests. */
export function peerAddress(c: Context): string | undefined {
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined;
  }
}

const skipFlag = queryBoolean();

/**
 * What a POST's answer leads to besides itself: an old LuCI's job is flagged
 * so every poll answers the five stages it knows (and this answer shows
 * them), and the request is counted for the popular requests (a finished
 * build's answer counts as a success).
 */
export function createAnswerHooks(deps: AnswerHooksDeps) {
  const trusted = trustedProxies(deps.trustedProxies);
  // Finished answers are served serialized: their candidate is found once.
  // Bounded in bytes too: a candidate carries its request's package list.
  const candidates = new LRUCache<string, PopularCandidate | false>({
    max: 5000,
    maxSize: 16 * 1024 * 1024,
    sizeCalculation: (candidate) =>
      candidate
        ? 512 + candidate.request.packages.reduce((n, name) => n + 2 * name.length + 16, 0)
        : 64,
  });

  function candidateOf(c: Context, requestHash: string, answer: Answer) {
    const known = candidates.get(requestHash);
    if (known !== undefined) return known || undefined;
    const body = "json" in answer ? JSON.parse(answer.json) : answer.body;
    const request = body?.request;
    if (!request || typeof request.version !== "string") return undefined;
    const skip = skipFlag.safeParse(c.req.query("skip_package_resolution")).data === true;
    const candidate =
      popularCandidate(request, {
        skipPackageResolution: skip,
        branch: branchOf(request.version, deps.branches),
      }) ?? false;
    // A running build's answer changes; its candidate does not.
    candidates.set(requestHash, candidate);
    return candidate || undefined;
  }

  function countPopular(c: Context, requestHash: string, answer: Answer) {
    if (!deps.popular || answer.status === 500) return;
    const client = clientAddress(peerAddress(c), c.req.header("x-forwarded-for"), trusted);
    if (!client) return;
    const candidate = candidateOf(c, requestHash, answer);
    if (candidate) deps.popular.asked(candidate, client, answer.status === 200);
  }

  return {
    async post<T extends Answer>(
      c: Context,
      client: string | null | undefined,
      requestHash: string,
      answer: T,
    ): Promise<T> {
      try {
        countPopular(c, requestHash, answer);
      } catch (error) {
        deps.onError?.(error as Error);
      }
      if (answer.status !== 202 || !isOldLuci(client) || "json" in answer) return answer;
      await flagOldLuci(deps.queue.queue, requestHash).catch((error: Error) =>
        deps.onError?.(error),
      );
      return answerForOldLuci(answer) as T;
    },
    /**
     * A poll that finds the build done counts its requester as a success,
     * for a request this replica saw posted (only a POST tells whether it
     * skipped package resolution): routers that asked while it was built
     * never POST it again.
     */
    poll(c: Context, requestHash: string, answer: Answer): void {
      if (!deps.popular || answer.status !== 200) return;
      const candidate = candidates.get(requestHash);
      if (!candidate) return;
      const client = clientAddress(peerAddress(c), c.req.header("x-forwarded-for"), trusted);
      if (client) deps.popular.asked(candidate, client, true);
    },
  };
}
