import { type ApiApp, createRoute, openapiAt } from "@asu/http";
import {
  hasSplitKmods,
  kmodsDirectory,
  type ProfilesJson,
  type TargetsJson,
  versionsByBranch,
} from "@asu/openwrt-releases";
import {
  type IndexSource,
  type MetadataClient,
  newestTargets,
  type OpenwrtCatalog,
  readFeeds,
  readIndexSource,
  sourceIdentity,
} from "@asu/upstream";
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { createDerivedCache, type DerivedCache } from "./derived-cache.ts";
import { type JsonFileRequest, parseJsonFilePath } from "./json-paths.ts";
import { branchSummaries, overviewJson, type ServerSummary } from "./overview.ts";
import { feedIndexAnswer, targetIndexAnswer } from "./package-index.ts";
import { profileAnswer } from "./profile-answer.ts";

export interface JsonApiSettings {
  upstream_url: string;
  server_contact: string;
  allow_defaults: boolean;
  repository_allow_list: readonly string[];
  max_custom_rootfs_size_mb: number;
  max_defaults_length: number;
}

export interface JsonApiDeps {
  catalog: Pick<OpenwrtCatalog, "branches" | "versions" | "targets">;
  client: Pick<MetadataClient, "getJson" | "getText">;
  settings: JsonApiSettings;
  /** The server's version, shown as `server.version`. */
  version: string;
}

const JSON_PREFIX = "/json/v1/";

const packageChangeSchema = z.object({
  source: z.string(),
  target: z.string().optional(),
  revision: z.number().int(),
  mandatory: z.boolean().optional(),
});

const branchSchema = z
  .object({
    name: z.string().openapi({ example: "24.10" }),
    path: z
      .string()
      .describe("Upstream path template; `{version}` stands for the version")
      .openapi({ example: "releases/{version}" }),
    enabled: z.boolean(),
    snapshot: z.boolean(),
    branch_off_rev: z.number().int().optional(),
    package_changes: z.array(packageChangeSchema),
    versions: z.array(z.string()).describe("Newest first"),
    targets: z.record(z.string(), z.string()).describe("target → package architecture"),
  })
  .openapi("Branch");

const latestSchema = z.object({ latest: z.array(z.string()) }).openapi("Latest");

const overviewSchema = z
  .object({
    latest: z.array(z.string()),
    branches: z.record(z.string(), branchSchema),
    upstream_url: z.string(),
    server: z.object({
      version: z.string(),
      contact: z.string(),
      allow_defaults: z.boolean(),
      repository_allow_list: z.array(z.string()),
      max_custom_rootfs_size_mb: z.number().int(),
      max_defaults_length: z.number().int(),
    }),
  })
  .openapi("Overview");

const packageMapSchema = z.record(z.string(), z.string()).describe("package name → version");

const targetIndexSchema = z
  .union([
    z.object({ architecture: z.string(), packages: packageMapSchema }),
    z.object({}).describe("No index for this target"),
  ])
  .openapi("TargetPackageIndex");

const profileSchema = z
  .record(z.string(), z.unknown())
  .describe(
    "profiles.json without `profiles`, merged with the profile's entry, plus `id` and `build_at`; `{}` for an unknown profile",
  )
  .openapi("ProfileMetadata");

const jsonContent = <T extends z.ZodType>(schema: T) => ({
  content: { "application/json": { schema } },
});

const pathParam = z
  .string()
  .describe("A branch path with the version filled in; may contain `/`")
  .openapi({ example: "releases/24.10.0" });

const upstreamUnavailable = { 503: { description: "Upstream metadata unavailable" } };

const latestRoute = createRoute({
  method: "get",
  path: "/json/v1/latest.json",
  summary: "Latest releases",
  responses: {
    200: { description: "Upcoming, stable, oldstable", ...jsonContent(latestSchema) },
    ...upstreamUnavailable,
  },
});

const branchesRoute = createRoute({
  method: "get",
  path: "/json/v1/branches.json",
  summary: "Configured branches",
  responses: {
    200: { description: "Every branch, in table order", ...jsonContent(z.array(branchSchema)) },
    ...upstreamUnavailable,
  },
});

const overviewRoute = createRoute({
  method: "get",
  path: "/json/v1/overview.json",
  summary: "Server overview",
  description: "What clients read first: versions, branches and the server's limits.",
  responses: {
    200: { description: "The overview", ...jsonContent(overviewSchema) },
    ...upstreamUnavailable,
  },
});

/*
 * Paths whose `{path}` holds slashes (`releases/24.10.0`): each is mounted
 * at the Hono pattern beside it, which Hono's `:param` alone cannot spell.
 * The target index comes before the profiles, whose pattern it also fits.
 */
const BRANCH_PATH_ROUTES = [
  {
    pattern: "/json/v1/:path{.+}/targets/:target/:subtarget/index.json",
    route: createRoute({
      method: "get",
      path: "/json/v1/{path}/targets/{target}/{subtarget}/index.json",
      summary: "Packages of a target",
      description:
        "From upstream's apk index.json (version 2) or opkg Packages, with the kernel modules of versions that publish them separately merged in.",
      request: { params: z.object({ path: pathParam, target: z.string(), subtarget: z.string() }) },
      responses: {
        200: { description: "architecture and packages", ...jsonContent(targetIndexSchema) },
        404: { description: "Not a branch path" },
      },
    }),
  },
  {
    pattern: "/json/v1/:path{.+}/targets/:target/:subtarget/:profile{[^/]+\\.json}",
    route: createRoute({
      method: "get",
      path: "/json/v1/{path}/targets/{target}/{subtarget}/{profile}.json",
      summary: "Metadata of one profile",
      request: {
        params: z.object({
          path: pathParam,
          target: z.string(),
          subtarget: z.string(),
          profile: z.string(),
        }),
      },
      responses: {
        200: { description: "The profile", ...jsonContent(profileSchema) },
        404: { description: "Not a branch path" },
      },
    }),
  },
  {
    pattern: "/json/v1/:path{.+}/packages/:arch{[^/]+-index\\.json}",
    route: createRoute({
      method: "get",
      path: "/json/v1/{path}/packages/{arch}-index.json",
      summary: "Packages of an architecture over all feeds",
      request: { params: z.object({ path: pathParam, arch: z.string() }) },
      responses: {
        200: { description: "package name → version", ...jsonContent(packageMapSchema) },
        404: { description: "Not a branch path" },
      },
    }),
  },
];

function sendJson(c: Context, text: string) {
  return c.body(text, 200, { "content-type": "application/json" });
}

/** Percent-decoded segments after `/json/v1/`, undefined when one cannot be decoded. */
function jsonSegments(pathname: string): string[] | undefined {
  try {
    return pathname.slice(JSON_PREFIX.length).split("/").map(decodeURIComponent);
  } catch {
    return undefined;
  }
}

/** Where the JSON files come from, and the answers kept as text. */
interface JsonSources {
  catalog: JsonApiDeps["catalog"];
  client: JsonApiDeps["client"];
  answers: DerivedCache<string>;
  /** Apart, so a crawl over every device's profile cannot evict the package indexes. */
  profileAnswers: DerivedCache<string>;
}

async function branchParts({ catalog }: JsonSources) {
  const { branches } = catalog;
  const serverVersions = await catalog.versions();
  const grouped = versionsByBranch(serverVersions.versions, branches);
  const targets = await Promise.all(
    branches.map((branch) => newestTargets(catalog, grouped.get(branch.name) ?? [])),
  );
  const byBranch = new Map<string, TargetsJson>();
  branches.forEach((branch, index) => {
    const found = targets[index];
    if (found !== undefined) byBranch.set(branch.name, found);
  });
  // serverVersions is one object per upstream .versions.json, the targets likewise.
  const inputs = [serverVersions, ...targets];
  const summaries = () => branchSummaries(branches, grouped, byBranch);
  return { latest: serverVersions.latest, inputs, summaries };
}

async function targetIndex(
  { client, answers }: JsonSources,
  request: Extract<JsonFileRequest, { kind: "target-index" }>,
) {
  const dir = `${request.location.path}/targets/${request.target}`;
  const base = await readIndexSource(client, `${dir}/packages`);
  let profiles: ProfilesJson | undefined;
  let kmods: IndexSource | undefined;
  if (base !== undefined && hasSplitKmods(request.location.version, request.location.branch)) {
    profiles = await client.getJson<ProfilesJson>(`${dir}/profiles.json`);
    const kernel = kmodsDirectory(profiles?.linux_kernel);
    if (kernel !== undefined) kmods = await readIndexSource(client, `${dir}/kmods/${kernel}`);
  }
  return answers.get(
    `target-index:${dir}`,
    [sourceIdentity(base), profiles, sourceIdentity(kmods)],
    () => JSON.stringify(targetIndexAnswer(base, kmods)),
  );
}

async function feedIndex(
  { client, answers }: JsonSources,
  request: Extract<JsonFileRequest, { kind: "feed-index" }>,
) {
  const dir = `${request.location.path}/packages/${request.arch}`;
  const feeds = await readFeeds(client, dir);
  const sources = await Promise.all(feeds.map((feed) => readIndexSource(client, `${dir}/${feed}`)));
  return answers.get(`feed-index:${dir}`, [feeds.join(" "), ...sources.map(sourceIdentity)], () =>
    JSON.stringify(feedIndexAnswer(sources)),
  );
}

async function profile(
  { client, profileAnswers }: JsonSources,
  request: Extract<JsonFileRequest, { kind: "profile" }>,
) {
  const dir = `${request.location.path}/targets/${request.target}`;
  const metadata = await client.getJson<ProfilesJson>(`${dir}/profiles.json`);
  return profileAnswers.get(`${dir}/${request.profile}`, [metadata], () =>
    JSON.stringify(profileAnswer(metadata, request.profile)),
  );
}

/** A file below a branch's path: the path as a whole says which, and whether its branch exists. */
async function jsonFile(sources: JsonSources, c: Context) {
  const segments = jsonSegments(new URL(c.req.url).pathname);
  const request = segments && parseJsonFilePath(segments, sources.catalog.branches);
  if (!request) return c.json({ detail: "Not Found" }, 404);
  switch (request.kind) {
    case "target-index":
      return sendJson(c, await targetIndex(sources, request));
    case "feed-index":
      return sendJson(c, await feedIndex(sources, request));
    case "profile":
      return sendJson(c, await profile(sources, request));
  }
}

function serverSummary({ settings, version }: JsonApiDeps): ServerSummary {
  return {
    version,
    contact: settings.server_contact,
    allow_defaults: settings.allow_defaults,
    repository_allow_list: [...settings.repository_allow_list],
    max_custom_rootfs_size_mb: settings.max_custom_rootfs_size_mb,
    max_defaults_length: settings.max_defaults_length,
  };
}

/**
 * The JSON files clients read: overview, branches, latest, and package and
 * profile indexes derived from upstream metadata. Each answer is kept as
 * text for as long as the upstream files it came from stay the same, so a
 * repeated request costs a few cache lookups; upstream down with nothing
 * cached answers 503 through the shared error handler.
 */
export function registerJsonApi(app: ApiApp, deps: JsonApiDeps): void {
  const { catalog, settings } = deps;
  const answers = createDerivedCache<string>();
  const sources: JsonSources = {
    catalog,
    client: deps.client,
    answers,
    profileAnswers: createDerivedCache<string>(),
  };
  const server = serverSummary(deps);

  app.openapi(latestRoute, async (c) => {
    const { latest } = await catalog.versions();
    return sendJson(
      c,
      answers.get("latest", [latest], () => JSON.stringify({ latest })),
    );
  });

  app.openapi(branchesRoute, async (c) => {
    const parts = await branchParts(sources);
    return sendJson(
      c,
      answers.get("branches", parts.inputs, () => JSON.stringify(parts.summaries())),
    );
  });

  app.openapi(overviewRoute, async (c) => {
    const parts = await branchParts(sources);
    const text = answers.get("overview", parts.inputs, () =>
      overviewJson({
        latest: parts.latest,
        branches: parts.summaries(),
        upstreamUrl: settings.upstream_url,
        server,
      }),
    );
    return sendJson(c, text);
  });

  const file = (c: Context) => jsonFile(sources, c);
  for (const { route, pattern } of BRANCH_PATH_ROUTES) openapiAt(app, route, pattern, file);
}
