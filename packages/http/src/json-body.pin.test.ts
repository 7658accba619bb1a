import { readFileSync } from "node:fs";
import { z } from "@hono/zod-openapi";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../../test/support/silent-logger.ts";
import { createApiApp } from "./api-app.ts";
import { createRoute } from "./create-route.ts";
import { orderedJson, rawBody } from "./json-body.ts";

/*
 * orderedJson hands its parse to Hono's validator through HonoRequest's
 * body cache (bench/README.md: it pays 27 % with new bodies). It was written
 * against this Hono; an upgrade must re-check that the validator still reads
 * the cache, then move this pin.
 */
const HONO_WRITTEN_FOR = "4.13.19";

describe("orderedJson's use of Hono's body cache", () => {
  it("is pinned to the Hono it was written for", () => {
    const manifest = new URL("../node_modules/hono/package.json", import.meta.url);
    const { version } = JSON.parse(readFileSync(manifest, "utf8")) as { version: string };
    expect(version, "re-check orderedJson's body cache against this Hono").toBe(HONO_WRITTEN_FOR);
  });

  it("gives the validator its parse, whatever the content type (the body is read once)", async () => {
    const app = createApiApp({ title: "t", version: "0", logger: silentLogger() });
    app.openapi(
      createRoute({
        method: "post",
        path: "/things",
        middleware: [rawBody(), orderedJson()] as const,
        request: {
          body: {
            required: true,
            content: { "application/json": { schema: z.object({}).passthrough() } },
          },
        },
        responses: { 200: { description: "Taken" } },
      }),
      (c) => c.json({ got: c.req.valid("json") }, 200),
    );
    for (const type of ["application/json", "text/plain", undefined]) {
      const res = await app.request("/things", {
        method: "POST",
        body: '{"b":1,"a":2}',
        headers: type ? { "content-type": type } : {},
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ got: { b: 1, a: 2 } });
    }
  });
});
