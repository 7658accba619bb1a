import { badRequest } from "@asu/contract";
import { type ApiApp, createRoute } from "@asu/http";
import type { OpenwrtCatalog } from "@asu/upstream";
import { z } from "@hono/zod-openapi";

export interface RevisionRouteDeps {
  catalog: Pick<OpenwrtCatalog, "versionPath" | "profiles">;
}

const failureSchema = z.object({ detail: z.string(), status: z.number().int() });

const revisionRoute = createRoute({
  method: "get",
  path: "/api/v1/revision/{version}/{target}/{subtarget}",
  summary: "Revision of a version's target",
  description:
    "The `version_code` upstream's profiles.json names for this version and target: what a snapshot build would be built from.",
  request: {
    params: z.object({
      version: z.string().openapi({ example: "SNAPSHOT" }),
      target: z.string().openapi({ example: "ath79" }),
      subtarget: z.string().openapi({ example: "generic" }),
    }),
  },
  responses: {
    200: {
      description: "The revision",
      content: {
        "application/json": {
          schema: z.object({ revision: z.string().openapi({ example: "r28695-22d1e6cd26" }) }),
        },
      },
    },
    400: {
      description: "`Unsupported version: {version}` (no configured branch)",
      content: { "application/json": { schema: failureSchema } },
    },
    404: {
      description: "`Failed to fetch revision for {version}/{target}/{subtarget}`",
      content: { "application/json": { schema: failureSchema } },
    },
    503: { description: "Upstream metadata unavailable" },
  },
});

export function registerRevisionRoute(app: ApiApp, deps: RevisionRouteDeps): void {
  const { catalog } = deps;
  app.openapi(revisionRoute, async (c) => {
    const { version, target, subtarget } = c.req.valid("param");
    if (catalog.versionPath(version) === undefined) {
      throw badRequest(`Unsupported version: ${version}`);
    }
    const profiles = await catalog.profiles(version, `${target}/${subtarget}`);
    const revision = profiles?.version_code;
    if (typeof revision !== "string") {
      // Upstream has no such file (its other failures are 503s from the client);
      // the Python server passes that 404 on.
      return c.json(
        { detail: `Failed to fetch revision for ${version}/${target}/${subtarget}`, status: 404 },
        404,
      );
    }
    return c.json({ revision }, 200);
  });
}
