import { buildRequestSchema, DEFAULT_LIMITS } from "@asu/core";
import { z } from "@hono/zod-openapi";

export const changeRecordSchema = z
  .object({
    type: z.enum(["migration", "device", "language"]),
    action: z.enum(["replace", "add", "remove"]),
    from_package: z.string().nullable(),
    to_package: z.string().nullable(),
    reason: z.string(),
    automatic: z.boolean(),
  })
  .openapi("PackageChangeRecord");

export const prepareResponseSchema = z
  .object({
    status: z.literal("prepared"),
    original_packages: z.array(z.string()).describe("The packages as sent"),
    resolved_packages: z.array(z.string()).describe("What will be built"),
    changes: z.array(changeRecordSchema).describe("Every change resolution made, in order"),
    prepared_request: buildRequestSchema(DEFAULT_LIMITS).describe(
      "The full BuildRequest to send to POST /api/v1/build?skip_package_resolution=true",
    ),
    request_hash: z
      .string()
      .describe("Hash of prepared_request built with skip_package_resolution"),
    cache_available: z.boolean().describe("Whether that hash is already built"),
  })
  .openapi("PrepareResponse");
