import { type ApiApp, createRoute, orderedJson, rawBody } from "@asu/http";
import type { BuildQueue } from "@asu/queue";
import type { BuildStore } from "@asu/store";
import { z } from "@hono/zod-openapi";
import type { Redis } from "ioredis";
import { buildAnswer } from "./build-answer.ts";
import { storedFilesOf } from "./finished-answers.ts";

/** Hashes one request may ask about: a prepare tier sends what came in at once, up to this. */
export const BUILD_CACHE_MAX_HASHES = 100;

/** 100 hashes are ~7 KB of JSON; more is not a prepare tier asking. */
const MAX_BODY_BYTES = 16 * 1024;

export const buildCacheQuerySchema = z
  .object({
    request_hashes: z
      .array(z.string().regex(/^[0-9a-f]{64}$/))
      .min(1)
      .max(BUILD_CACHE_MAX_HASHES)
      .describe(`Request hashes (hex sha256), at most ${BUILD_CACHE_MAX_HASHES}`),
  })
  .openapi("BuildCacheQuery");

export const buildCacheAnswerSchema = z
  .object({
    cache_available: z
      .record(z.string(), z.boolean())
      .describe(
        "Per hash asked: true when `GET /api/v1/build/{request_hash}` would answer 200 (built, not expired, its files stored)",
      ),
  })
  .openapi("BuildCacheAnswer");

export const BUILD_CACHE_PATH = "/api/v1/build-cache";

const buildCacheRoute = createRoute({
  method: "post",
  path: BUILD_CACHE_PATH,
  summary: "Which of these request hashes are built",
  description:
    "What `GET /api/v1/build/{request_hash}` tells by its 200, for many hashes in one request: the prepare tier asks it for `cache_available`, gathering the hashes of the prepares that arrive together. Nothing is enqueued or rebuilt by asking.",
  // A bounded body, refused with 413, then the schema below.
  middleware: [rawBody(MAX_BODY_BYTES), orderedJson()] as const,
  request: {
    body: {
      required: true,
      content: { "application/json": { schema: buildCacheQuerySchema } },
    },
  },
  responses: {
    200: {
      description: "One answer per hash",
      content: { "application/json": { schema: buildCacheAnswerSchema } },
    },
    413: { description: `Body larger than ${MAX_BODY_BYTES} bytes` },
    422: { description: "Schema failure, FastAPI's shape" },
  },
});

export interface BuildCacheDeps {
  queue: BuildQueue;
  redis: Redis;
  store: BuildStore;
}

/**
 * Which hashes are built. Most hashes a prepare asks about were never built:
 * one ZMSCORE of BullMQ's completed set answers all of them at once; only
 * the completed ones are read in full, to apply the same expiry and store
 * check as a GET (without its rebuild of lost files: asking changes nothing).
 */
export function createBuildCacheLookup(deps: BuildCacheDeps) {
  const completedKey = deps.queue.queue.keys.completed as string;
  return async (hashes: readonly string[]): Promise<Record<string, boolean>> => {
    const scores = await deps.redis.zmscore(completedKey, ...hashes);
    const built = await Promise.all(
      hashes.map(async (hash, i) => {
        if (scores[i] === null || scores[i] === undefined) return false;
        const snapshot = await deps.queue.snapshot(hash);
        if (!snapshot) return false;
        const answer = buildAnswer(snapshot);
        return answer.status === 200 && (await deps.store.has(hash, storedFilesOf(answer)));
      }),
    );
    return Object.fromEntries(hashes.map((hash, i) => [hash, built[i] === true]));
  };
}

export function registerBuildCacheRoute(app: ApiApp, deps: BuildCacheDeps): void {
  const lookup = createBuildCacheLookup(deps);
  app.openapi(buildCacheRoute, async (c) => {
    // Duplicates are asked once.
    const hashes = [...new Set(c.req.valid("json").request_hashes)];
    return c.json({ cache_available: await lookup(hashes) }, 200);
  });
}
