import { queryBoolean } from "@asu/http";
import { z } from "@hono/zod-openapi";

/** The OpenAPI shapes of the build routes: a build's answer, its hash, and what each status means. */

export const answerSchema = z
  .object({
    status: z.number().int(),
    request_hash: z.string(),
    enqueued_at: z.string(),
    request: z.record(z.string(), z.unknown()),
    detail: z.string(),
    imagebuilder_status: z.string().optional(),
    queue_position: z.number().int().optional(),
    eta_seconds: z
      .number()
      .int()
      .optional()
      .openapi({ description: "Expected seconds until the build is done (202 answers)" }),
    stdout: z.string().optional(),
    stderr: z.string().optional(),
    images: z.array(z.record(z.string(), z.unknown())).optional(),
    bin_dir: z.string().optional(),
    manifest: z.record(z.string(), z.string()).optional(),
  })
  .passthrough()
  .openapi("BuildAnswer");

export const hashParam = z.object({
  request_hash: z.string().openapi({ param: { name: "request_hash", in: "path" } }),
});

export const buildQuery = z.object({ skip_package_resolution: queryBoolean() });

export const answerResponses = {
  200: {
    description: "Built: the result",
    content: { "application/json": { schema: answerSchema } },
  },
  202: {
    description: "Queued (`queue_position`) or started (`imagebuilder_status`)",
    content: { "application/json": { schema: answerSchema } },
  },
  404: { description: "Unknown request hash" },
  500: {
    description: "Build failed: `detail`, `stdout`, `stderr`",
    content: { "application/json": { schema: answerSchema } },
  },
};

/** What a build POST may answer besides a build's answer. */
export const buildResponses = {
  ...answerResponses,
  400: { description: "Refused by validation: `{detail, status}`" },
  413: { description: "Body larger than 1 MiB" },
  422: { description: "Schema failure, FastAPI's shape" },
  429: {
    description:
      "This client already has `MAX_PENDING_PER_CLIENT` builds waiting (`Retry-After` says when to try again)",
  },
  529: { description: "Too many builds waiting" },
};

export const NOT_FOUND = {
  status: 404,
  title: "Not Found",
  detail: "could not find provided request hash",
};
