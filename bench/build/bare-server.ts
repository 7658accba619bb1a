// Baseline: a bare Hono app that parses the body and answers a stored JSON
// document of the same size, for POST and GET alike.
import { serve } from "@hono/node-server";
import { Hono } from "hono";

const manifest = Object.fromEntries(
  Array.from({ length: 150 }, (_, i) => [`package-${i}`, `1.${i}.0-r1`]),
);
const answer = { status: 200, detail: "done", manifest };
const app = new Hono();
app.post("/api/v1/build", async (c) => {
  await c.req.json();
  return c.json(answer);
});
app.get("/api/v1/build/:hash", (c) => c.json(answer));
serve({ fetch: app.fetch, port: Number(process.env.PORT), hostname: "127.0.0.1" }, () => {
  process.stdout.write("ready x\n");
});
