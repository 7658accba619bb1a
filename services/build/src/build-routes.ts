import {
  ApiError,
  badRequest,
  buildRequestSchema,
  imagebuilderImage,
  isSnapshot,
  type RequestLimits,
  requestHash,
  toFastApiErrors,
} from "@asu/core";
import { type ApiApp, parseJsonBody, readBodyText, setResponseHeader } from "@asu/http";
import {
  type BuildAnswer,
  type BuildQueue,
  buildAnswer,
  resultTtl,
  type TtlSettings,
} from "@asu/queue";
import { type OpenwrtCatalog, type ValidationSettings, validateBuildRequest } from "@asu/upstream";
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { LRUCache } from "lru-cache";
import { createFinishedAnswers, type SerializedAnswer } from "./finished-answers.ts";

export interface BuildRouteDeps {
  catalog: OpenwrtCatalog;
  queue: BuildQueue;
  settings: ValidationSettings &
    RequestLimits &
    TtlSettings & {
      base_container: string;
      max_pending_jobs: number;
      build_failure_ttl: number;
    };
}

const NOT_FOUND = {
  status: 404,
  title: "Not Found",
  detail: "could not find provided request hash",
};

const TRUE_WORDS = new Set(["true", "1", "yes", "on", "t", "y"]);
const FALSE_WORDS = new Set(["false", "0", "no", "off", "f", "n"]);

/** FastAPI's reading of a bool query parameter, with its 422 for anything else. */
function skipResolution(c: Context): boolean {
  const raw = c.req.query("skip_package_resolution");
  if (raw === undefined) return false;
  const word = raw.toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  throw new ApiError(422, {
    detail: [
      {
        type: "bool_parsing",
        loc: ["query", "skip_package_resolution"],
        msg: "Input should be a valid boolean, unable to interpret input",
        input: raw,
      },
    ],
  });
}

function send(c: Context, answer: BuildAnswer | SerializedAnswer) {
  setResponseHeader(c, "X-Imagebuilder-Status", answer.headers["X-Imagebuilder-Status"]);
  setResponseHeader(c, "X-Queue-Position", answer.headers["X-Queue-Position"]);
  const json = "json" in answer ? answer.json : JSON.stringify(answer.body);
  return c.body(json, answer.status, { "content-type": "application/json" });
}

const answerSchema = z
  .object({
    status: z.number().int(),
    request_hash: z.string(),
    enqueued_at: z.string(),
    request: z.record(z.string(), z.unknown()),
    detail: z.string(),
    imagebuilder_status: z.string().optional(),
    queue_position: z.number().int().optional(),
    stdout: z.string().optional(),
    stderr: z.string().optional(),
    images: z.array(z.record(z.string(), z.unknown())).optional(),
    bin_dir: z.string().optional(),
    manifest: z.record(z.string(), z.string()).optional(),
  })
  .passthrough()
  .openapi("BuildAnswer");

const hashParam = z.object({
  request_hash: z.string().openapi({ param: { name: "request_hash", in: "path" } }),
});
const answerResponses = {
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

export function registerBuildRoutes(app: ApiApp, deps: BuildRouteDeps): void {
  const { queue, catalog, settings } = deps;
  const schema = buildRequestSchema({
    maxCustomRootfsSizeMb: settings.maxCustomRootfsSizeMb,
    maxDefaultsLength: settings.maxDefaultsLength,
  });
  const finished = createFinishedAnswers();
  // Devices of one model post byte-identical bodies: their hash is remembered.
  const bodyHashes = new LRUCache<string, string>({ max: 5000 });

  async function answerFor(requestHash: string) {
    const remembered = finished.get(requestHash);
    if (remembered) return remembered;
    const snapshot = await queue.snapshot(requestHash);
    if (!snapshot) return undefined;
    const answer = buildAnswer(snapshot);
    finished.remember(requestHash, answer, snapshot.expiresAt);
    return answer;
  }

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "post",
      path: "/api/v1/build",
      summary: "Request a firmware build",
      description:
        "Legacy clients send their packages and the server applies its package rules. With `skip_package_resolution=true` the packages are built exactly as sent (a `prepared_request` from `/api/v1/build/prepare`) under a distinct hash.",
      request: {
        query: z.object({ skip_package_resolution: z.boolean().optional() }),
        body: {
          required: true,
          content: { "application/json": { schema: buildRequestSchema(settings) } },
        },
      },
      responses: {
        ...answerResponses,
        400: { description: "Refused by validation: `{detail, status}`" },
        422: { description: "Schema failure, FastAPI's shape" },
        529: { description: "Too many builds waiting" },
      },
    }),
  );
  app.post("/api/v1/build", async (c) => {
    const skipPackageResolution = skipResolution(c);
    const body = await readBodyText(c);
    if (!body.ok) throw body.error;

    // A known hash is answered before any upstream lookup: the cheap path
    // for the many devices that ask for a build that already exists.
    const bodyKey = `${skipPackageResolution}:${body.text}`;
    const seenHash = bodyHashes.get(bodyKey);
    if (seenHash) {
      const known = await answerFor(seenHash);
      if (known) return send(c, known);
    }

    const json = parseJsonBody(body.text);
    if (!json.ok) throw json.error;
    const parsed = schema.safeParse(json.value);
    if (!parsed.success) return c.json(toFastApiErrors(parsed.error, json.value), 422);

    const askedHash = requestHash(parsed.data, { skipPackageResolution });
    const known = await answerFor(askedHash);
    if (known) {
      if (body.text.length <= 64 * 1024) bodyHashes.set(bodyKey, askedHash);
      return send(c, known);
    }

    const { request } = await validateBuildRequest(parsed.data, settings, catalog);
    const hash = requestHash(request, { skipPackageResolution });
    if (body.text.length <= 64 * 1024) bodyHashes.set(bodyKey, hash);
    if (hash !== askedHash) {
      const resolved = await answerFor(hash);
      if (resolved) return send(c, resolved);
    }

    const image = imagebuilderImage(settings.base_container, request.target, request.version);
    const versionPath = catalog.versionPath(request.version);
    if (!image || versionPath === undefined) {
      throw badRequest(`Unsupported version: ${request.version}`);
    }

    const waiting = await queue.waitingCount();
    if (waiting > settings.max_pending_jobs) {
      throw new ApiError(529, {
        status: 529,
        title: "Server overloaded",
        detail: `server overload, queue contains too many build requests: ${waiting}`,
      });
    }

    await queue.dropExpired(hash);
    await queue.enqueue({
      request,
      requestHash: hash,
      skipPackageResolution,
      image,
      versionPath,
      snapshot: isSnapshot(request.version),
      resultTtl: resultTtl(request, settings),
      failureTtl: settings.build_failure_ttl,
      requestId: c.get("requestId"),
    });
    c.get("logger").info(
      { request_hash: hash, version: request.version, target: request.target, image },
      "build enqueued",
    );
    const queued = await queue.snapshot(hash);
    if (!queued) throw new Error(`job ${hash} vanished right after enqueueing`);
    return send(c, buildAnswer(queued));
  });

  const statusRoute = createRoute({
    method: "get",
    path: "/api/v1/build/{request_hash}",
    summary: "The state of a build (also HEAD)",
    request: { params: hashParam },
    responses: answerResponses,
  });
  app.openAPIRegistry.registerPath(statusRoute);
  app.get("/api/v1/build/:request_hash", async (c) => {
    const answer = await answerFor(c.req.param("request_hash"));
    if (!answer) return c.json(NOT_FOUND, 404);
    return send(c, answer);
  });

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path: "/api/v1/stats",
      summary: "Builds waiting in the queue",
      responses: {
        200: {
          description: "Queue length",
          content: {
            "application/json": { schema: z.object({ queue_length: z.number().int() }) },
          },
        },
      },
    }),
  );
  app.get("/api/v1/stats", async (c) => c.json({ queue_length: await queue.waitingCount() }));
}
