/**
 * The prepare app's CPU per request without sockets: a quick check while
 * changing the tier's code; the deployed figures come from run.ts.
 *   node bench/prepare/in-process.ts [--count 20000] [--repeated] [--rounds 3]
 */
import { Writable } from "node:stream";
import { parseArgs } from "node:util";
import { createLogger } from "@asu/observability";
import { DEFAULT_BRANCHES } from "@asu/openwrt-releases";
import { createMetadataClient, createOpenwrtCatalog, createPackageIndexes } from "@asu/upstream";
import { createPrepareApp } from "../../packages/prepare-tier/src/index.ts";
import { startFakeUpstream } from "../../test/support/fake-upstream.ts";
import { routerBodies } from "./bodies.ts";

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== "--"),
  options: {
    count: { type: "string", default: "20000" },
    rounds: { type: "string", default: "3" },
    repeated: { type: "boolean", default: false },
  },
});
const count = Number(values.count);
const upstream = await startFakeUpstream();
const client = createMetadataClient({ upstreamUrl: upstream.url, timeoutMs: 5000 });
const app = createPrepareApp({
  catalog: createOpenwrtCatalog({ client, branches: DEFAULT_BRANCHES }),
  indexes: createPackageIndexes({ client, branches: DEFAULT_BRANCHES, reuseForMs: 1000 }),
  settings: {
    allow_defaults: false,
    repository_allow_list: [],
    max_custom_rootfs_size_mb: 1024,
    max_defaults_length: 20480,
  },
  isBuilt: async () => false,
  logger: createLogger({
    service: "prepare",
    level: "info",
    destination: new Writable({ write: (_c, _e, done) => done() }),
  }),
});
const bodies = routerBodies((Number(values.rounds) + 1) * count);
let next = 0;
const repeated = bodies[0] as string;

async function run(n: number) {
  const started = process.cpuUsage();
  const wall = performance.now();
  // 50 in flight, as the bench's connections.
  let done = 0;
  async function lane() {
    while (done < n) {
      done++;
      const body = values.repeated ? repeated : (bodies[next++ % bodies.length] as string);
      const response = await app.fetch(
        new Request("http://127.0.0.1/api/v1/build/prepare", {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "content-length": String(Buffer.byteLength(body)),
          },
          body,
        }),
      );
      await response.text();
      if (response.status !== 200) throw new Error(`status ${response.status}`);
    }
  }
  await Promise.all(Array.from({ length: 50 }, lane));
  const used = process.cpuUsage(started);
  return { cpu: (used.user + used.system) / n, wall: ((performance.now() - wall) * 1000) / n };
}

await run(Math.min(count, 5000)); // warm-up: metadata fetched, code optimised
for (let round = 0; round < Number(values.rounds); round++) {
  const figures = await run(count);
  console.log(`cpu/req ${figures.cpu.toFixed(1)} µs  wall/req ${figures.wall.toFixed(1)} µs`);
}
await upstream.close();
process.exit(0);
