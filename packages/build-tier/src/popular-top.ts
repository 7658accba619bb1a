import type { Branch } from "@asu/openwrt-releases";
import type { PopularRequests } from "@asu/stats";
import { z } from "@hono/zod-openapi";

/** Entries of each branch that /api/v1/stats and /stats show. */
export const POPULAR_SHOWN = 10;

const popularSchema = z.object({
  branch: z.string(),
  model: z.string().openapi({ description: "The ImageBuilder profile" }),
  target: z.string(),
  version: z.string().openapi({ description: "The version it was last asked for" }),
  packages: z.number().int().openapi({ description: "Number of packages asked for" }),
  clients: z.number().int().openapi({ description: "Distinct clients that asked (30 days)" }),
});

export const queueStatsSchema = z
  .object({
    queue_length: z.number().int(),
    popular_requests: z.array(popularSchema).openapi({
      description:
        "The most asked-for release requests of each enabled release branch (RELEASE_PREBUILDS are remembered), most clients first",
    }),
  })
  .openapi("QueueStats");

export type PopularEntry = z.infer<typeof popularSchema>;

/** The top of each enabled release branch, most clients first. */
export async function popularTop(
  popular: Pick<PopularRequests, "top">,
  branches: readonly Branch[],
  perBranch: number,
): Promise<PopularEntry[]> {
  const released = branches.filter((branch) => branch.enabled && !branch.snapshot);
  const tops = await Promise.all(released.map((branch) => popular.top(branch.name, perBranch)));
  return tops
    .flatMap((top, i) =>
      top.map(({ request, clients }) => ({
        branch: released[i]?.name ?? "",
        model: request.profile,
        target: request.target,
        version: request.version,
        packages: request.packages.length,
        clients,
      })),
    )
    .sort((a, b) => b.clients - a.clients);
}
