import { type ApiApp, createRoute, queryPositiveInteger } from "@asu/http";
import type { BuildQueue } from "@asu/queue";
import { z } from "@hono/zod-openapi";
import type { Redis } from "ioredis";

export const COMPLETED_HASHES_PATH = "/api/v1/build-cache/completed";

/** Hashes one page holds at most: ~650 KB of JSON, one ZRANGE of Redis. */
export const COMPLETED_HASHES_MAX_PAGE = 10_000;

/**
 * `<score>:<skip>`: BullMQ scores a completed job by its finish time in ms.
 * The skip counts the entries of that very score already listed, so a page
 * that ends amid many builds finished in one millisecond is followed by the
 * rest of them, not by them again.
 */
const CURSOR = /^(\d{1,16}(?:\.\d{1,16})?):(\d{1,9})$/;

const completedHashesQuery = z.object({
  after: z
    .string()
    .regex(CURSOR, "Expected <score>:<skip>, as a previous page's cursor")
    .optional()
    .openapi({
      description:
        "Where the last page ended (its `cursor`), or `<finish time in ms>:0` for the builds finished from then on; absent: from the first",
      example: "1764556412345:0",
    }),
  limit: queryPositiveInteger().openapi({
    description: `Hashes in this page at most (default and cap ${COMPLETED_HASHES_MAX_PAGE})`,
    example: COMPLETED_HASHES_MAX_PAGE,
  }),
});

export const completedHashesPageSchema = z
  .object({
    hashes: z.array(z.string()).describe("Request hashes of finished builds, in finish order"),
    cursor: z
      .string()
      .nullable()
      .describe("Pass as `after` for the next page; `after` as given when the page is empty"),
    more: z.boolean().describe("Whether entries follow this page"),
  })
  .openapi("CompletedHashesPage");

const completedHashesRoute = createRoute({
  method: "get",
  path: COMPLETED_HASHES_PATH,
  summary: "The request hashes of finished builds, page by page in finish order",
  description:
    "What the prepare tier mirrors to answer `cache_available` for hashes never built without asking: the members of the queue's completed set after a cursor, one Redis command per page. Listed is not built: a listed hash may have expired or lost its files, which `POST /api/v1/build-cache` tells. Served only on the build tier's internal listener (INTERNAL_PORT), never on its public port: it would let anyone enumerate every build.",
  request: { query: completedHashesQuery },
  responses: {
    200: {
      description: "One page",
      content: { "application/json": { schema: completedHashesPageSchema } },
    },
    422: { description: "A cursor or limit that is not one, FastAPI's shape" },
  },
});

export interface CompletedHashesDeps {
  queue: BuildQueue;
  redis: Redis;
}

export interface CompletedHashesPage {
  hashes: string[];
  cursor: string | null;
  more: boolean;
}

/** One page of the completed set after `after` (see CURSOR), `limit` entries at most. */
export function createCompletedHashesReader(deps: CompletedHashesDeps) {
  const completedKey = deps.queue.queue.keys.completed as string;
  return async (after: string | undefined, limit: number): Promise<CompletedHashesPage> => {
    const parsed = after ? CURSOR.exec(after) : null;
    const from = parsed?.[1] ?? "-inf";
    const skip = Number(parsed?.[2] ?? 0);
    // One more than asked: tells whether more follow without a second command.
    const flat = (await deps.redis.call(
      "ZRANGE",
      completedKey,
      from,
      "+inf",
      "BYSCORE",
      "LIMIT",
      skip,
      limit + 1,
      "WITHSCORES",
    )) as string[];
    const count = Math.min(flat.length / 2, limit);
    if (count === 0) return { hashes: [], cursor: after ?? null, more: false };
    const hashes: string[] = new Array(count);
    for (let i = 0; i < count; i++) hashes[i] = flat[2 * i] as string;
    const lastScore = flat[2 * count - 1] as string;
    let tied = 0;
    for (let i = count - 1; i >= 0 && flat[2 * i + 1] === lastScore; i--) tied++;
    // Ties with the cursor's own score continue its skip.
    const sameAsCursor = parsed !== null && Number(lastScore) === Number(from);
    const cursor = `${lastScore}:${sameAsCursor ? skip + tied : tied}`;
    return { hashes, cursor, more: flat.length / 2 > limit };
  };
}

export function registerCompletedHashesRoute(app: ApiApp, deps: CompletedHashesDeps): void {
  const read = createCompletedHashesReader(deps);
  app.openapi(completedHashesRoute, async (c) => {
    const { after, limit } = c.req.valid("query");
    const page = await read(
      after,
      Math.min(limit ?? COMPLETED_HASHES_MAX_PAGE, COMPLETED_HASHES_MAX_PAGE),
    );
    return c.json(page, 200);
  });
}
