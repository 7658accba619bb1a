// Baseline: the least a Hono server can do for the same request — parse the
// JSON body and answer JSON — so the prepare tier's figure reads as a ratio.
import { serve } from "@hono/node-server";
import { Hono } from "hono";

const app = new Hono();
app.post("/api/v1/build/prepare", async (c) => {
  const body = await c.req.json();
  return c.json({ status: "prepared", received: Object.keys(body).length });
});

serve({ fetch: app.fetch, port: Number(process.env.PORT), hostname: "127.0.0.1" }, () => {
  process.stdout.write("ready\n");
});
