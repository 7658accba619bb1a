import { z } from "@hono/zod-openapi";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../../test/support/silent-logger.ts";
import { createApiApp } from "./api-app.ts";
import { createRoute } from "./create-route.ts";
import { orderedJson, rawBody } from "./json-body.ts";

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
