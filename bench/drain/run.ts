/**
 * bench:drain — a deep queue drained through the tiers as deployed. The
 * build, prepare and worker tiers run as their own processes, started by
 * their own scripts, against a private Redis, a Podman API service and the
 * fake upstream; builds run in the ImageBuilder double, whose `make
 * manifest` and `make image` each sleep half of --make-seconds (the
 * `slowpackage` marker), so a build takes a set time.
 *
 * With one worker of --slots slots online and a few builds done (so the
 * estimates have a history), one client floods the queue with
 * --flood-share of --jobs builds, then --others clients post the rest
 * (X-Forwarded-For from a trusted proxy names them). While it drains, a
 * poller asks for random unfinished builds. It reports builds per minute
 * against a sample of the same builds as plain `podman run`s --slots at a
 * time (the raw floor), the ETA error (eta_seconds at enqueue against the
 * real wait), each client's median wait, poll and POST p99, Redis bytes
 * per job, and each tier's peak RSS.
 *
 * Usage: pnpm bench:drain [-- --jobs 200 --extra-keys 200000 --make-seconds 1 --others 4]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { BUILD_QUEUE, type BuildJobData, KEY_PREFIX, readWorkers } from "@asu/queue";
import { Job, Queue } from "bullmq";
import { Redis } from "ioredis";
import {
  guardBuildNetwork,
  unguardBuildNetwork,
} from "../../packages/build-worker/src/build-network-guard.ts";
import {
  INFO_COMMAND,
  manifestCommand,
} from "../../packages/build-worker/src/imagebuilder-commands.ts";
import { removeBuildContainers } from "../../packages/build-worker/src/imagebuilder-session.ts";
import { freeLoopbackPort } from "../../services/server/src/private-redis.ts";
import { startFakeUpstream } from "../../test/support/fake-upstream.ts";
import { buildImagebuilderDouble } from "../../test/support/imagebuilder-double.ts";
import {
  BUILD_NETWORK,
  ensurePodmanNetwork,
  runPodman,
  startPodmanService,
} from "../../test/support/podman-service.ts";
import { rawRequest } from "../../test/support/raw-request.ts";
import { startRedisServer } from "../../test/support/redis-server.ts";
import { BENCH_IMAGE } from "../build/bench-stack.ts";
import { machineLoad, median } from "../build/figures.ts";
import { baselineBuild } from "../build/podman-baseline.ts";
import {
  startTierProcess,
  stopTierProcess,
  type TierProcess,
  treeRss,
} from "../build/tier-processes.ts";
import { drainRequests } from "./drain-requests.ts";

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== "--"),
  options: {
    jobs: { type: "string", default: "200" },
    "extra-keys": { type: "string", default: "0" },
    "make-seconds": { type: "string", default: "1" },
    slots: { type: "string", default: "2" },
    others: { type: "string", default: "4" },
    "flood-share": { type: "string", default: "0.9" },
    "floor-sample": { type: "string", default: "20" },
    "poll-ms": { type: "string", default: "20" },
    "warm-up": { type: "string", default: "10" },
  },
});
const jobs = Number(values.jobs);
const extraKeys = Number(values["extra-keys"]);
const makeSeconds = Number(values["make-seconds"]);
const slots = Number(values.slots);
const others = Number(values.others);
const floodCount = Math.round(jobs * Number(values["flood-share"]));
const floorSample = Math.min(jobs, Number(values["floor-sample"]));
const pollMs = Number(values["poll-ms"]);

/** Its own repository: the double's SLOW_SECONDS differs from the other benchmarks' images. */
const BASE_CONTAINER = "localhost/asu-bench-drain/imagebuilder";
/** Builds done before the fill, `slots` at a time: the estimates' history, as a running server has it. */
const WARM_UP_BUILDS = Number(values["warm-up"]);
const FLOOD = "198.51.100.1";

const tiers: TierProcess[] = [];
const cleanups: (() => Promise<unknown>)[] = [];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const quantile = (values: readonly number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
};
const kib = (bytes: number) => `${(bytes / 1024).toFixed(2)} KiB`;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

async function until(what: string, ready: () => Promise<boolean>, timeoutMs = 180_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what} not ready`);
    await sleep(200);
  }
}

interface Posted {
  client: string;
  hash: string;
  postedAt: number;
  eta: number | undefined;
  postMs: number;
}

async function post(buildUrl: string, body: unknown, client: string): Promise<Posted> {
  const postedAt = Date.now();
  const started = performance.now();
  const res = await rawRequest(buildUrl, "/api/v1/build", {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": client },
    body: JSON.stringify(body),
  });
  const postMs = performance.now() - started;
  const answer = JSON.parse(res.body.toString("utf8"));
  if (res.status !== 202) throw new Error(`POST answered ${res.status}: ${answer.detail}`);
  return { client, hash: answer.request_hash, postedAt, eta: answer.eta_seconds, postMs };
}

/** Polls until the build answers 200; its final answer. */
async function finished(buildUrl: string, hash: string): Promise<any> {
  for (;;) {
    const res = await rawRequest(buildUrl, `/api/v1/build/${hash}`);
    if (res.status === 200) return JSON.parse(res.body.toString("utf8"));
    if (res.status !== 202) throw new Error(`build ${hash} answered ${res.status}`);
    await sleep(200);
  }
}

async function usedMemory(redis: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info("memory"))?.[1]);
}

async function addExtraKeys(redis: Redis, count: number) {
  // Results, statistics and logs of a production keyspace: small values under the same prefix.
  for (let start = 0; start < count; start += 5000) {
    const pairs: string[] = [];
    for (let i = start; i < Math.min(count, start + 5000); i++)
      pairs.push(`asu:results:${i}`, "{}");
    await redis.mset(...pairs);
  }
}

/** The builds' commands as raw `podman run`s, `slots` at a time: builds per minute. */
async function rawFloor(podmanEnv: Record<string, string>, image: string, answers: any[]) {
  const queue = [...answers];
  let named = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: slots }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const name = `asu-bench-drain-${process.pid}-${named++}`;
        cleanups.push(() => runPodman(podmanEnv, ["rm", "--force", "--ignore", name]));
        await baselineBuild(
          {
            podmanEnv,
            image,
            binDir: `/builder/${next.request_hash}`,
            network: BUILD_NETWORK,
            name,
          },
          [
            INFO_COMMAND,
            manifestCommand(next.id, next.build_cmd_packages),
            next.build_cmd as string[],
          ],
        );
      }
    }),
  );
  return (answers.length / (performance.now() - started)) * 60_000;
}

async function main() {
  const upstream = await startFakeUpstream();
  cleanups.push(() => upstream.close());
  const redisServer = await startRedisServer();
  cleanups.push(() => redisServer.stop());
  const podman = await startPodmanService();
  cleanups.push(() => podman.stop());
  await ensurePodmanNetwork(podman.env, BUILD_NETWORK);
  // As deployed: the worker refuses a build network that reaches the host.
  await guardBuildNetwork(BUILD_NETWORK, { env: podman.env });
  cleanups.push(() => unguardBuildNetwork(BUILD_NETWORK));
  const image = await buildImagebuilderDouble(podman, {
    ...BENCH_IMAGE,
    baseContainer: BASE_CONTAINER,
    slowSeconds: makeSeconds / 2,
  });
  const publicPath = await mkdtemp(join(tmpdir(), "asu-bench-drain-"));
  cleanups.push(() => rm(publicPath, { recursive: true, force: true }));
  const hashes = new Set<string>();
  cleanups.push(async () => {
    const { default: Docker } = await import("dockerode");
    const docker = new Docker({ socketPath: podman.socketPath });
    for (const hash of hashes) await removeBuildContainers(docker, hash).catch(() => {});
  });

  const [buildPort, preparePort] = [await freeLoopbackPort(), await freeLoopbackPort()];
  const common = {
    REDIS_URL: redisServer.url,
    UPSTREAM_URL: upstream.url,
    PUBLIC_PATH: publicPath,
    CONTAINER_SOCKET_PATH: podman.socketPath,
    BASE_CONTAINER,
    IMAGE_PULL: "missing",
    HOST: "127.0.0.1",
    LOG_LEVEL: "warn",
    ASU_CONFIG: "",
  };
  const buildUrl = `http://127.0.0.1:${buildPort}`;
  tiers.push(
    startTierProcess("build", "start:build", {
      ...common,
      PORT: String(buildPort),
      MAX_PENDING_JOBS: String(jobs + WARM_UP_BUILDS + 10),
      MAX_PENDING_PER_CLIENT: String(jobs + 10),
      TRUSTED_PROXIES: "127.0.0.1/32",
    }),
    startTierProcess("prepare", "start:prepare", {
      ...common,
      PORT: String(preparePort),
      BUILD_API_URL: buildUrl,
    }),
    startTierProcess("worker", "start:worker", {
      ...common,
      WORKER_CONCURRENCY: String(slots),
      METRICS_PORT: "0",
    }),
  );
  const redis = redisServer.client();
  cleanups.push(async () => redis.disconnect());
  await until("build tier", async () => (await fetch(`${buildUrl}/health`)).ok);
  await until(
    "prepare tier",
    async () => (await fetch(`http://127.0.0.1:${preparePort}/health`)).ok,
  );
  await until("worker", async () => (await readWorkers(redis)).length > 0);
  const connection = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  const queue = new Queue<BuildJobData>(BUILD_QUEUE, { connection, prefix: KEY_PREFIX });
  cleanups.push(async () => {
    await queue.close();
    connection.disconnect();
  });

  const requests = drainRequests(jobs + WARM_UP_BUILDS);
  console.log(
    `drain: ${jobs} builds (${floodCount} from one client, then ${jobs - floodCount} from ${others} others), one worker of ${slots} slots, make ${makeSeconds} s a build, ${extraKeys} extra keys`,
  );
  console.log(machineLoad());

  // Builds first: the estimates' history (the first ones, cold, are slower than the drain's), warm containers.
  for (let i = 0; i < WARM_UP_BUILDS; i += slots) {
    const batch = requests.slice(i, i + slots);
    const posted = await Promise.all(batch.map((body) => post(buildUrl, body, "203.0.113.250")));
    for (const { hash } of posted) hashes.add(hash);
    await Promise.all(posted.map(({ hash }) => finished(buildUrl, hash)));
  }
  await addExtraKeys(redis, extraKeys);
  const memoryBefore = await usedMemory(redis);

  const rss: Record<string, number> = {};
  const sampleRss = () => {
    for (const tier of tiers)
      rss[tier.name] = Math.max(rss[tier.name] ?? 0, treeRss(tier.child.pid));
  };
  const rssTimer = setInterval(sampleRss, 1000);
  cleanups.push(async () => clearInterval(rssTimer));

  // The flood first, then the others' builds in turns: four at a time, as concurrent clients.
  const bodies = requests.slice(WARM_UP_BUILDS);
  const clientOf = (i: number) =>
    i < floodCount ? FLOOD : `203.0.113.${1 + ((i - floodCount) % others)}`;
  const posted: Posted[] = [];
  const fillStarted = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let i = next++; i < bodies.length; i = next++) {
        const done = await post(buildUrl, bodies[i], clientOf(i));
        hashes.add(done.hash);
        posted.push(done);
      }
    }),
  );
  const fillMs = Date.now() - fillStarted;
  const memoryFilled = await usedMemory(redis);
  const counts = await queue.getJobCounts("waiting", "prioritized", "active", "completed");
  const waitingNow = (counts.waiting ?? 0) + (counts.prioritized ?? 0);
  const sample = posted.slice(-20).map((p) => p.hash);
  const jobBytes = await Promise.all(
    sample.map(async (hash) =>
      Number(await redis.memory("USAGE", `${KEY_PREFIX}:${BUILD_QUEUE}:${hash}`)),
    ),
  );
  sampleRss();

  // Polls of waiting and running builds while it drains.
  const pollTimes: number[] = [];
  const open = new Set(posted.map((p) => p.hash));
  while (open.size > 0) {
    const hash = [...open][Math.floor(Math.random() * open.size)] as string;
    const started = performance.now();
    const res = await rawRequest(buildUrl, `/api/v1/build/${hash}`);
    pollTimes.push(performance.now() - started);
    if (res.status === 200) open.delete(hash);
    else if (res.status !== 202) throw new Error(`build ${hash} answered ${res.status}`);
    await sleep(pollMs);
    if (pollTimes.length % 100 === 0) {
      const left = await queue.getJobCounts("waiting", "prioritized", "active");
      if ((left.waiting ?? 0) + (left.prioritized ?? 0) + (left.active ?? 0) === 0) {
        for (const hash of open)
          if ((await rawRequest(buildUrl, `/api/v1/build/${hash}`)).status === 200)
            open.delete(hash);
      }
    }
  }
  sampleRss();

  const outcomes = await Promise.all(
    posted.map(async (p) => {
      const job = await Job.fromId(queue, p.hash);
      if (!job?.finishedOn) throw new Error(`job ${p.hash} has not finished`);
      return { ...p, wait: (job.finishedOn - p.postedAt) / 1000, finishedOn: job.finishedOn };
    }),
  );
  const lastFinished = Math.max(...outcomes.map((o) => o.finishedOn));
  const perMinute = (jobs / (lastFinished - fillStarted)) * 60_000;
  const errors = outcomes
    .filter((o) => o.eta !== undefined)
    .map((o) => Math.abs((o.eta as number) - o.wait) / o.wait);

  const answers = await Promise.all(
    outcomes.slice(0, floorSample).map((o) => finished(buildUrl, o.hash)),
  );
  const floorPerMinute = await rawFloor(podman.env, image, answers);

  console.log("");
  console.log(`filled in ${fillMs} ms; ${waitingNow} waiting right after`);
  console.log(
    `throughput: ${perMinute.toFixed(1)} builds/min (first POST to last build done); raw floor ${floorPerMinute.toFixed(1)} builds/min (${floorSample} of the same builds as podman runs, ${slots} at a time); ratio ${(perMinute / floorPerMinute).toFixed(2)} (goal ≥ 0.9)`,
  );
  console.log(
    `ETA error at enqueue: median ${quantile(errors, 0.5).toFixed(3)}, p90 ${quantile(errors, 0.9).toFixed(3)} (${errors.length} of ${jobs} with eta_seconds) (goal ≤ 0.25 / ≤ 0.5)`,
  );
  const clients = [...new Set(outcomes.map((o) => o.client))];
  for (const client of clients) {
    const mine = outcomes.filter((o) => o.client === client);
    // Signed: below zero the estimate was short (builds passed this one after it was posted).
    const signed = mine
      .filter((o) => o.eta !== undefined)
      .map((o) => ((o.eta as number) - o.wait) / o.wait);
    console.log(
      `  client ${client}${client === FLOOD ? " (flood)" : ""}: ${mine.length} builds, median wait ${median(mine.map((o) => o.wait)).toFixed(1)} s, median error ${quantile(
        signed.map(Math.abs),
        0.5,
      ).toFixed(3)} (signed ${quantile(signed, 0.5).toFixed(3)})`,
    );
  }
  console.log(
    `poll p99 ${quantile(pollTimes, 0.99).toFixed(1)} ms (median ${median(pollTimes).toFixed(1)}, ${pollTimes.length} polls; goal ≤ 25 ms); POST p99 ${quantile(
      posted.map((p) => p.postMs),
      0.99,
    ).toFixed(1)} ms (median ${median(posted.map((p) => p.postMs)).toFixed(1)}; goal ≤ 50 ms)`,
  );
  console.log(
    `Redis: ${kib((memoryFilled - memoryBefore) / jobs)} per job posted (used_memory delta over the fill; ${waitingNow} still waiting then), a job's hash ${kib(median(jobBytes))} (MEMORY USAGE, median of ${jobBytes.length}) (goal ≤ 4 KiB)`,
  );
  console.log(
    `peak RSS: ${Object.entries(rss)
      .map(([name, bytes]) => `${name} ${mib(bytes)}`)
      .join(", ")} (goal < 250 MB)`,
  );
  console.log(machineLoad());
}

const stopAll = async () => {
  await Promise.all(tiers.map(stopTierProcess));
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
};
process.once("SIGINT", () => void stopAll().finally(() => process.exit(130)));
process.once("SIGTERM", () => void stopAll().finally(() => process.exit(130)));
try {
  await main();
} finally {
  await stopAll();
}
// Nothing of the run may keep it alive (a client still reconnecting to the stopped Redis).
process.exit(0);
