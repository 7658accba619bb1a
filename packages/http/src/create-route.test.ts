import { prepareRequestSchema } from "@asu/contract";
import { parseOrderedJson } from "@asu/python-compat";
import { z } from "@hono/zod-openapi";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../../test/support/silent-logger.ts";
import { createApiApp } from "./api-app.ts";
import { createRoute, parseCompiled } from "./create-route.ts";
import { orderedJson, rawBody } from "./json-body.ts";

const LIMITS = { max_custom_rootfs_size_mb: 1024, max_defaults_length: 20480 };

/** Bodies valid and not, each shaped to reach a different part of the prepare schema. */
const BODIES = [
  { version: "24.10.0", target: "ath79/generic", profile: "tplink,archer-c7-v5" },
  {
    version: "24.10.0",
    target: "ath79/generic",
    profile: "x",
    packages: ["luci", "+htop", "-ppp"],
    packages_versions: { "10": "1.0", luci: "git-24.1" },
    diff_packages: "yes",
    rootfs_size_mb: "256",
    filesystem: "ext4",
    repositories: { extra: "https://example.org/feed" },
    repository_keys: [],
    from_version: "23.05.5",
    client: "luci/1",
  },
  { version: "24.10.0", target: "ath79/generic", profile: "x", packages: ["ok", 5, "b@d"] },
  { version: "24.10.0", target: "nope", profile: "x", packages: "luci" },
  { version: 24, profile: null, diff_packages: 2, rootfs_size_mb: 1.5, filesystem: "ntfs" },
  { version: "24.10.0", target: "a/b", profile: "x", packages_versions: { "b@d": "1 2" } },
  { version: "24.10.0", target: "a/b", profile: "x", defaults: "x".repeat(20481) },
  {},
  [],
  "text",
];

describe("parseCompiled", () => {
  it("answers every body exactly as the schema's own parse does", async () => {
    const reference = prepareRequestSchema(LIMITS);
    const schema = parseCompiled(prepareRequestSchema(LIMITS));
    for (const body of BODIES) {
      // The parser's objects: prototype-free, in the order sent.
      const input = parseOrderedJson(JSON.stringify(body));
      expect(await schema.safeParseAsync(input)).toEqual(await reference.safeParseAsync(input));
    }
  });

  it("compiles the prepare body's schema whole, so valid bodies take the fast path", () => {
    // strict: throws instead of quietly keeping the runtime parser when a part cannot be compiled.
    expect(() => z.compile(prepareRequestSchema(LIMITS), { strict: true })).not.toThrow();
  });

  it("keeps the async parse of a schema with an async refinement", async () => {
    const schema = parseCompiled(
      z.object({ name: z.string() }).refine(async (value) => value.name !== "taken", "taken"),
    );
    expect((await schema.safeParseAsync({ name: "free" })).success).toBe(true);
    const refused = await schema.safeParseAsync({ name: "taken" });
    expect(refused.success).toBe(false);
    expect(refused.error?.issues[0]?.message).toBe("taken");
  });
});

describe("createRoute", () => {
  function appWithRoute() {
    const app = createApiApp({ title: "t", version: "0", logger: silentLogger() });
    const schema = z.object({ name: z.string().min(2).describe("A name") }).openapi("NamedThing");
    app.openapi(
      createRoute({
        method: "post",
        path: "/things",
        middleware: [rawBody(), orderedJson()] as const,
        request: { body: { required: true, content: { "application/json": { schema } } } },
        responses: { 200: { description: "Taken" } },
      }),
      (c) => c.json({ got: c.req.valid("json").name }, 200),
    );
    return app;
  }

  it("validates a route's body: valid bodies reach the handler, others get FastAPI's 422", async () => {
    const app = appWithRoute();
    const ok = await app.request("/things", { method: "POST", body: '{"name":"ab"}' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ got: "ab" });
    const refused = await app.request("/things", { method: "POST", body: '{"name":"a"}' });
    expect(refused.status).toBe(422);
    expect(((await refused.json()) as { detail: { loc: unknown[] }[] }).detail[0]?.loc).toEqual([
      "body",
      "name",
    ]);
  });

  it("leaves the OpenAPI document its named schemas and descriptions", async () => {
    const doc = (await (await appWithRoute().request("/openapi.json")).json()) as {
      components: { schemas: Record<string, { properties: Record<string, unknown> }> };
    };
    expect(doc.components.schemas.NamedThing?.properties.name).toMatchObject({
      type: "string",
      minLength: 2,
      description: "A name",
    });
  });
});
