import { buildRequestSchema, DEFAULT_LIMITS } from "@asu/contract";
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

export const packageProblemSchema = z
  .object({
    package: z.string().openapi({ example: "lcui" }),
    reason: z
      .enum(["not_found", "version_unavailable", "removed_in_version", "unknown"])
      .describe(
        "`not_found`: no package index of this version and target has it; `version_unavailable`: a `packages_versions` pin the index contradicts (releases); `removed_in_version`: present in `from_version`'s index for this target, absent now; `unknown`: could not be checked (an index or custom repository that could not be read, a name only apk's provides could supply). Only `unknown` builds may still succeed; the build tier fails the others before the queue.",
      ),
    detail: z.string().describe("A sentence for people"),
    suggestions: z
      .array(z.string())
      .describe(
        "Real names from the same indexes, best first: the package-changes rename, names within a small edit distance, the kmod-/luci-i18n- counterpart",
      )
      .openapi({ example: ["luci"] }),
  })
  .openapi("PackageProblem");

export const prepareResponseSchema = z
  .object({
    status: z.literal("prepared"),
    original_packages: z.array(z.string()).describe("The packages as sent"),
    resolved_packages: z.array(z.string()).describe("What will be built"),
    changes: z.array(changeRecordSchema).describe("Every change resolution made, in order"),
    problems: z
      .array(packageProblemSchema)
      .describe(
        "Packages of resolved_packages the package indexes cannot supply, with suggestions; empty when all is well",
      ),
    prepared_request: buildRequestSchema(DEFAULT_LIMITS).describe(
      "The full BuildRequest to send to POST /api/v1/build?skip_package_resolution=true",
    ),
    request_hash: z
      .string()
      .describe("Hash of prepared_request built with skip_package_resolution"),
    cache_available: z.boolean().describe("Whether that hash is already built"),
  })
  .openapi("PrepareResponse");
