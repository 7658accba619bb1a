// bench:release-day: a day of requests, a new release, its first wave; with
// and without release-day prebuilds. See bench/README.md.
import { parseArgs } from "node:util";
import { createApiApp } from "@asu/http";
import { metricsRegistry } from "@asu/observability";
import { DEFAULT_BRANCHES } from "@asu/openwrt-releases";
import {
  BUILD_QUEUE,
  type BuildJobData,
  type BuildResult,
  createBuildQueue,
  KEY_PREFIX,
} from "@asu/queue";
import { createPopularRequests, createStatsRecorder } from "@asu/stats";
import { createMetadataClient, createOpenwrtCatalog } from "@asu/upstream";
import { Worker } from "bullmq";
import { registerBuildRoutes } from "../../packages/build-tier/src/build-routes.ts";
import { createEtaSource } from "../../packages/build-tier/src/eta-source.ts";
import { NO_PACKAGE_CHECK } from "../../packages/build-tier/src/package-check.ts";
import { createReleaseWatcher } from "../../packages/build-tier/src/release-watcher.ts";
import { BUILD_ROUTE_SETTINGS, KEEPS_EVERYTHING } from "../../test/support/build-route-stand.ts";
import { startFakeUpstream } from "../../test/support/fake-upstream.ts";
import { startRedisServer } from "../../test/support/redis-server.ts";
import { announceRelease } from "../../test/support/release-announcement.ts";
import { serveApp } from "../../test/support/serve-app.ts";
import { silentLogger } from "../../test/support/silent-logger.ts";
import { machineLoad, median, ms } from "../build/figures.ts";
// Seeded: both runs replay the same requests.
import { seeded } from "../prepare/bodies.ts";

const { values: flags } = parseArgs({
  options: {
    day: { type: "string", default: "400" },
    wave: { type: "string", default: "200" },
    users: { type: "string", default: "12" },
    clients: { type: "string", default: "300" },
    sets: { type: "string", default: "15" },
    zipf: { type: "string", default: "1.1" },
    "build-ms": { type: "string", default: "300" },
    slots: { type: "string", default: "2" },
    prebuilds: { type: "string", default: "50" },
    rate: { type: "string", default: "40" },
  },
});
const n = (name: keyof typeof flags) => Number(flags[name]);

const MODELS = [
  "tplink_archer-c7-v5",
  "tplink_archer-c6-v2",
  "netgear_wndr3700",
  "8dev_carambola2",
];
const EXTRAS = ["luci", "luci-ssl", "wireguard-tools", "adblock", "sqm-scripts", "tcpdump"];
const RESULT: BuildResult = { images: [], bin_dir: "", manifest: {} };
const POLL_MS = 50;
const WAIT_LIMIT_MS = 10 * 60_000;

/** The distinct requests of the day, most popular first, and a Zipf draw over them. */
function requestMix(seed: number) {
  const rand = seeded(seed);
  const kinds: { profile: string; packages: string[] }[] = [];
  for (let set = 0; set < n("sets"); set++) {
    for (const profile of MODELS) {
      const packages = EXTRAS.filter((_, i) => (set >> i) & 1);
      kinds.push({ profile, packages: ["luci", ...packages, `set${set}`] });
    }
  }
  kinds.sort(() => rand() - 0.5);
  const weights = kinds.map((_, rank) => 1 / (rank + 1) ** n("zipf"));
  const total = weights.reduce((a, b) => a + b, 0);
  return () => {
    let pick = rand() * total;
    for (let i = 0; i < kinds.length; i++) {
      pick -= weights[i] as number;
      if (pick <= 0) return kinds[i] as (typeof kinds)[number];
    }
    return kinds[kinds.length - 1] as (typeof kinds)[number];
  };
}

/**
 * Routers arrive at `rate` a second, whatever the server's answers: an open
 * loop, so a fast answer does not bring the next request sooner.
 */
async function arrivals<T>(tasks: (() => Promise<T>)[], rate: number): Promise<T[]> {
  const start = performance.now();
  return Promise.all(
    tasks.map(async (task, i) => {
      const due = start + (1000 * i) / rate - performance.now();
      if (due > 0) await new Promise((resolve) => setTimeout(resolve, due));
      return task();
    }),
  );
}

async function releaseDay(withPrebuilds: boolean) {
  const redisServer = await startRedisServer();
  const redis = redisServer.client();
  const upstream = await startFakeUpstream();
  const queue = createBuildQueue({ connection: redis });
  const settings = {
    ...BUILD_ROUTE_SETTINGS,
    max_pending_jobs: 10_000,
    trusted_proxies: ["127.0.0.1/32", "::1"],
    release_prebuilds: withPrebuilds ? n("prebuilds") : 0,
  };
  const client = createMetadataClient({ upstreamUrl: upstream.url });
  const catalog = createOpenwrtCatalog({ client, branches: DEFAULT_BRANCHES });
  const app = createApiApp({ title: "bench", version: "0", logger: silentLogger("bench") });
  // Popular requests are remembered in both runs; only prebuilding differs.
  const popular = createPopularRequests(redis, { limit: n("prebuilds") });
  registerBuildRoutes(app, {
    catalog,
    client,
    queue,
    settings,
    redis,
    popular,
    eta: createEtaSource({ queue, redis }),
    store: KEEPS_EVERYTHING,
    stats: createStatsRecorder(redis, { enabled: false }),
    packageCheck: NO_PACKAGE_CHECK,
    logger: silentLogger("bench"),
  });
  const watcher = createReleaseWatcher({
    redis,
    client,
    catalog,
    queue,
    popular,
    settings,
    registry: metricsRegistry(app),
  });
  const served = await serveApp(app);
  const worker = new Worker<BuildJobData, BuildResult>(
    BUILD_QUEUE,
    async () => {
      await new Promise((resolve) => setTimeout(resolve, n("build-ms")));
      return RESULT;
    },
    { connection: redisServer.client(), prefix: KEY_PREFIX, concurrency: n("slots") },
  );

  /** One router: POST, then poll until built; its wait and whether the POST was a hit. */
  async function ask(body: Record<string, unknown>, who: string) {
    const started = performance.now();
    const res = await fetch(`${served.url}/api/v1/build`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": who },
      body: JSON.stringify(body),
    });
    const answer = (await res.json()) as { request_hash: string };
    const hit = res.status === 200;
    let status = res.status;
    while (status === 202 && performance.now() - started < WAIT_LIMIT_MS) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      status = (await fetch(`${served.url}/api/v1/build/${answer.request_hash}`)).status;
    }
    if (status !== 200) throw new Error(`build ended ${status}`);
    return { hit, waitMs: performance.now() - started };
  }
  const device = (kind: { profile: string; packages: string[] }, version: string) => ({
    version,
    target: "ath79/generic",
    profile: kind.profile,
    packages: kind.packages,
    diff_packages: true,
  });
  const clientName = (rand: () => number) =>
    `10.${Math.floor(rand() * 200)}.${Math.floor(rand() * 250)}.${Math.floor(rand() * n("clients")) % 250}`;

  try {
    await watcher.check();
    const draw = requestMix(1);
    const rand = seeded(2);
    const day = Array.from({ length: n("day") }, () => {
      const body = device(draw(), "24.10.0");
      const who = clientName(rand);
      return () => ask(body, who);
    });
    await arrivals(day, n("rate"));
    await popular.flush();

    announceRelease(upstream, "24.10.1");
    const announced = performance.now();
    await watcher.check();
    const prebuilt = await queue.queue.getPrioritizedCount();
    // Users' own new builds while the prebuilds run.
    const users = await arrivals(
      Array.from(
        { length: n("users") },
        (_, i) => () =>
          ask(
            device({ profile: MODELS[0] as string, packages: ["luci", `user${i}`] }, "24.10.0"),
            `192.0.2.${i}`,
          ),
      ),
      n("rate"),
    );
    // The night: whatever was queued is built before the routers come.
    for (;;) {
      const counts = await queue.queue.getJobCounts("wait", "prioritized", "active");
      if (Object.values(counts).every((count) => count === 0)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const nightMs = performance.now() - announced;
    const waveDraw = requestMix(1);
    const waveRand = seeded(3);
    const wave = await arrivals(
      Array.from({ length: n("wave") }, () => {
        const body = device(waveDraw(), "24.10.1");
        const who = clientName(waveRand);
        return () => ask(body, who);
      }),
      n("rate"),
    );
    return { prebuilt, users, wave, nightMs };
  } finally {
    await worker.close();
    await served.close();
    await queue.close();
    await upstream.close();
    await redisServer.stop();
  }
}

const share = (wave: { hit: boolean }[]) =>
  `${((100 * wave.filter((a) => a.hit).length) / wave.length).toFixed(0)} %`;

console.log(machineLoad());
console.log(
  `day ${n("day")} requests, first wave ${n("wave")}, ${MODELS.length} models × ${n("sets")} package sets (Zipf ${n("zipf")}), ${n("slots")} build slots of ${n("build-ms")} ms, RELEASE_PREBUILDS ${n("prebuilds")}`,
);
const without = await releaseDay(false);
const withPrebuilds = await releaseDay(true);
const usersWithout = median(without.users.map((a) => a.waitMs));
const usersWith = median(withPrebuilds.users.map((a) => a.waitMs));
console.log(`prebuilds enqueued: ${withPrebuilds.prebuilt}`);
console.log(
  `first wave cache hits: ${share(withPrebuilds.wave)} with prebuilds, ${share(without.wave)} without`,
);
const waits = (run: { wave: { waitMs: number }[] }) => {
  const sorted = run.wave.map((a) => a.waitMs).sort((a, b) => a - b);
  const p90 = sorted[Math.floor(0.9 * (sorted.length - 1))] ?? Number.NaN;
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return `median ${ms(median(sorted))}, mean ${ms(mean)}, p90 ${ms(p90)}`;
};
console.log(`first wave wait with prebuilds: ${waits(withPrebuilds)}`);
console.log(`first wave wait without:        ${waits(without)}`);
console.log(
  `users' builds during prebuilding, median wait: ${ms(usersWith)} with, ${ms(usersWithout)} without (ratio ${(usersWith / usersWithout).toFixed(2)})`,
);
console.log(
  `announcement to idle queue: ${ms(withPrebuilds.nightMs)} with, ${ms(without.nightMs)} without`,
);
process.exit(0);
