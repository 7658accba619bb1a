// The real prepare tier against the fixture upstream, both in this process;
// the upstream is only asked on the first request, then served from cache.
import { Writable } from "node:stream";
import { DEFAULT_BRANCHES } from "@asu/core";
import { createLogger } from "@asu/http";
import { createMetadataClient, createOpenwrtCatalog } from "@asu/upstream";
import { serve } from "@hono/node-server";
import { createBuildCacheProbe } from "../../services/prepare/src/build-cache-probe.ts";
import { createPrepareApp } from "../../services/prepare/src/prepare-app.ts";
import { startFakeUpstream } from "../../test/support/fake-upstream.ts";

const upstream = await startFakeUpstream();
// Logs go nowhere: the benchmark measures the tier, not the terminal.
const logger = createLogger({
  service: "prepare",
  level: process.env.LOG_LEVEL ?? "info",
  destination: new Writable({ write: (_chunk, _encoding, done) => done() }),
});
const app = createPrepareApp({
  catalog: createOpenwrtCatalog({
    client: createMetadataClient({ upstreamUrl: upstream.url }),
    branches: DEFAULT_BRANCHES,
  }),
  settings: {
    allow_defaults: false,
    repository_allow_list: [],
    maxCustomRootfsSizeMb: 1024,
    maxDefaultsLength: 20480,
  },
  isBuilt: createBuildCacheProbe({ buildApiUrl: undefined }),
  logger,
});
serve({ fetch: app.fetch, port: Number(process.env.PORT), hostname: "127.0.0.1" }, () => {
  process.stdout.write("ready\n");
});
