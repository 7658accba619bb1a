import type { ApiApp } from "@asu/http";
import { type BuildQueue, readWorkers } from "@asu/queue";
import { createRoute, z } from "@hono/zod-openapi";
import type { Redis } from "ioredis";

const healthSchema = z
  .object({
    status: z.enum(["ok", "error"]),
    redis: z.enum(["ok", "unreachable"]),
    queue: z.record(z.string(), z.number().int()).optional(),
    workers: z
      .object({ online: z.number().int(), busy: z.number().int() })
      .optional()
      .describe("Workers that reported within the last 30 s"),
  })
  .openapi("Health");

/** Readiness for load balancers and compose healthchecks: Redis reachable, queue counts. */
export function registerHealthRoute(app: ApiApp, deps: { redis: Redis; queue: BuildQueue }) {
  app.openapi(
    createRoute({
      method: "get",
      path: "/health",
      summary: "Redis and queue state",
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
        const counts = await deps.queue.queue.getJobCounts(
          "waiting",
          "active",
          "completed",
          "failed",
        );
        const workers = await readWorkers(deps.redis);
        return c.json(
          {
            status: "ok" as const,
            redis: "ok" as const,
            queue: counts,
            workers: {
              online: workers.length,
              busy: workers.filter((worker) => worker.state === "busy").length,
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
