import { type ApiApp, createRoute } from "@asu/http";
import { type BuildQueue, readWorkers } from "@asu/queue";
import type { BuildStore } from "@asu/store";
import { z } from "@hono/zod-openapi";
import type { Redis } from "ioredis";

const healthSchema = z
  .object({
    status: z
      .enum(["ok", "degraded", "error"])
      .describe(
        "`degraded`: workers are online but none can reach its Podman API, or new builds cannot be stored",
      ),
    redis: z.enum(["ok", "unreachable"]),
    builders: z
      .enum(["available", "unavailable"])
      .optional()
      .describe("`available` while at least one online worker reaches its Podman API"),
    store: z
      .enum(["ok", "full", "unwritable"])
      .optional()
      .describe("Whether new builds can be stored; `degraded` while they cannot"),
    store_detail: z.string().optional(),
    queue: z.record(z.string(), z.number().int()).optional(),
    workers: z
      .object({
        online: z.number().int(),
        busy: z.number().int(),
        unavailable: z.number().int(),
      })
      .optional()
      .describe("Workers that reported within the last 30 s"),
  })
  .openapi("Health");

/** Readiness for load balancers and compose healthchecks: Redis reachable, queue counts. */
export function registerHealthRoute(
  app: ApiApp,
  deps: { redis: Redis; queue: BuildQueue; store?: BuildStore },
) {
  app.openapi(
    createRoute({
      method: "get",
      path: "/health",
      summary: "Redis, queue, builders and store state",
      responses: {
        200: { description: "Healthy", content: { "application/json": { schema: healthSchema } } },
        503: {
          description: "Redis unreachable",
          content: { "application/json": { schema: healthSchema } },
        },
      },
    }),
    async (c) => {
      try {
        await Promise.race([
          deps.redis.ping(),
          new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), 2000).unref()),
        ]);
        // Users' builds wait in BullMQ's prioritized set (their turn is their priority).
        const counts = await deps.queue.queue.getJobCounts(
          "waiting",
          "prioritized",
          "active",
          "completed",
          "failed",
        );
        const workers = await readWorkers(deps.redis);
        const unavailable = workers.filter((worker) => worker.state === "unavailable").length;
        const builders = workers.some(
          (worker) => worker.state !== "unavailable" && worker.state !== "stopping",
        );
        const problem = await deps.store?.writeProblem();
        const noBuilders = workers.length > 0 && unavailable === workers.length;
        return c.json(
          {
            status: noBuilders || problem ? ("degraded" as const) : ("ok" as const),
            redis: "ok" as const,
            builders: builders ? ("available" as const) : ("unavailable" as const),
            ...(deps.store ? { store: problem?.state ?? ("ok" as const) } : {}),
            ...(problem ? { store_detail: problem.detail } : {}),
            queue: counts,
            workers: {
              online: workers.length,
              busy: workers.filter((worker) => worker.state === "busy").length,
              unavailable,
            },
          },
          200,
        );
      } catch {
        return c.json({ status: "error" as const, redis: "unreachable" as const }, 503);
      }
    },
  );
}
