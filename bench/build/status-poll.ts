/**
 * CPU per status poll of a queued and a running build, for the build tier
 * and Redis: CPU drifts far less than requests/s on a shared machine.
 * Usage: pnpm bench:build-poll [-- --duration 5 --connections 4 --rounds 3]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type BuildJobData, type BuildResult, createBuildQueue, KEY_PREFIX } from "@asu/queue";
import autocannon from "autocannon";
import { Worker } from "bullmq";
import { Redis } from "ioredis";
import { startFakeUpstream } from "../../test/support/fake-upstream.ts";
import { startRedisServer } from "../../test/support/redis-server.ts";
import { cpuSeconds, machineLoad, median } from "./figures.ts";
import { request } from "./request.ts";

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== "--"),
  options: {
    duration: { type: "string", default: "5" },
    connections: { type: "string", default: "4" },
    rounds: { type: "string", default: "3" },
    /** Builds waiting ahead of and behind the polled one. */
    waiting: { type: "string", default: "8" },
    /** Writes a V8 CPU profile of the build tier into this folder. */
    "cpu-prof-dir": { type: "string" },
  },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
const rounds = Number(values.rounds);
const waitingCount = Number(values.waiting);

/** Job data as the build tier stores it, for a request with `packages`. */
function jobData(packages: string[]): BuildJobData {
  const built = {
    ...request,
    packages,
    packages_versions: {},
    defaults: "",
    rootfs_size_mb: null,
    repositories: {},
    repository_keys: [],
    diff_packages: false,
    client: "bench",
  };
  const hash = createHash("sha256").update(JSON.stringify(built)).digest("hex");
  return {
    request: built as never,
    requestHash: hash,
    packages,
    image: "ghcr.io/openwrt/imagebuilder:ath79-generic-v24.10.0",
    versionPath: "releases/24.10.0",
    snapshot: false,
    resultTtl: 86_400,
    failureTtl: 86_400,
    requestId: "bench",
  };
}

async function redisCpu(redis: Redis): Promise<number> {
  const info = await redis.info("cpu");
  const field = (name: string) => Number(info.match(new RegExp(`^${name}:([\\d.]+)`, "m"))?.[1]);
  return field("used_cpu_sys") + field("used_cpu_user");
}

const upstream = await startFakeUpstream();
const redisServer = await startRedisServer();
const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
const queue = createBuildQueue({ connection: redis });
const port = 18_190 + Math.floor(Math.random() * 100);
let tier: ChildProcess | undefined;
let worker: Worker<BuildJobData, BuildResult> | undefined;
let release = () => {};
try {
  // One build held active by a worker that reports a stage and then waits.
  const running = jobData(["luci", "htop"]);
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let started = () => {};
  const startedOnce = new Promise<void>((resolve) => {
    started = resolve;
  });
  worker = new Worker<BuildJobData, BuildResult>(
    "builds",
    async (job) => {
      await job.updateProgress({ imagebuilder_status: "building_image" });
      started();
      await held;
      return { bin_dir: "", manifest: {} };
    },
    { connection: redisServer.client(), prefix: KEY_PREFIX, concurrency: 1 },
  );
  await queue.enqueue(running);
  await startedOnce;
  // Then builds that wait; the polled one sits in the middle.
  const waiting: BuildJobData[] = [];
  for (let index = 0; index < waitingCount; index++) {
    waiting.push(jobData(["luci", `bench-${index}`]));
  }
  for (const data of waiting) await queue.enqueue(data);
  const queued = waiting[Math.floor(waitingCount / 2)] as BuildJobData;

  tier = spawn(
    process.execPath,
    [
      ...(values["cpu-prof-dir"] ? ["--cpu-prof", `--cpu-prof-dir=${values["cpu-prof-dir"]}`] : []),
      fileURLToPath(new URL("../../services/build-api/src/main.ts", import.meta.url)),
    ],
    {
      env: {
        ...process.env,
        PORT: String(port),
        REDIS_URL: redisServer.url,
        UPSTREAM_URL: upstream.url,
        PUBLIC_PATH: "/tmp/asu-bench-poll-public",
      },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  // Its logs are read and dropped, as a log shipper would.
  const listening = new Promise<void>((resolve) => {
    tier?.stdout?.on("data", (chunk: Buffer) => {
      if (String(chunk).includes("build tier listening")) resolve();
    });
  });
  await Promise.race([
    listening,
    once(tier, "exit").then(() => Promise.reject(new Error("tier exited"))),
  ]);

  const poll = async (hash: string, seconds: number) => {
    const url = `http://127.0.0.1:${port}/api/v1/build/${hash}`;
    const tierBefore = cpuSeconds(tier?.pid);
    const redisBefore = await redisCpu(redis);
    const result = await autocannon({ url, connections, duration: seconds });
    const tierAfter = cpuSeconds(tier?.pid);
    const redisAfter = await redisCpu(redis);
    if (result.non2xx + result.errors + result.timeouts > 0) {
      throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
    }
    const polls = result.requests.total;
    return {
      polls,
      tierUs: ((tierAfter - tierBefore) * 1e6) / polls,
      redisUs: ((redisAfter - redisBefore) * 1e6) / polls,
    };
  };

  console.log(machineLoad());
  console.log(
    `${connections} connections, ${duration} s per run, ${rounds} rounds, ${waitingCount} waiting`,
  );
  const figures: Record<string, { tier: number[]; redis: number[] }> = {
    queued: { tier: [], redis: [] },
    running: { tier: [], redis: [] },
  };
  // What the tier spends with nobody asking (timers, scrapes of its own): not a poll's cost.
  const idleBefore = cpuSeconds(tier.pid);
  await new Promise((resolve) => setTimeout(resolve, 5000));
  console.log(
    `idle: build tier ${(((cpuSeconds(tier.pid) - idleBefore) * 1000) / 5).toFixed(1)} ms CPU per s`,
  );
  // Unmeasured warm-up of both paths (JIT, first connections).
  await poll(queued.requestHash, 1);
  await poll(running.requestHash, 1);
  for (let round = 1; round <= rounds; round++) {
    for (const [name, hash] of [
      ["queued", queued.requestHash],
      ["running", running.requestHash],
    ] as const) {
      const figure = await poll(hash, duration);
      figures[name]?.tier.push(figure.tierUs);
      figures[name]?.redis.push(figure.redisUs);
      console.log(
        `round ${round} ${name.padEnd(7)} ${String(figure.polls).padStart(6)} polls  build tier ${figure.tierUs.toFixed(0)} µs/poll  redis ${figure.redisUs.toFixed(0)} µs/poll`,
      );
    }
  }
  for (const [name, figure] of Object.entries(figures)) {
    console.log(
      `${name.padEnd(7)} median: build tier ${median(figure.tier).toFixed(0)} µs CPU per poll, redis ${median(figure.redis).toFixed(0)} µs`,
    );
  }
} finally {
  release();
  tier?.kill("SIGTERM");
  if (tier && tier.exitCode === null) await once(tier, "exit");
  await worker?.close(true);
  await queue.close();
  redis.disconnect();
  await redisServer.stop();
  await upstream.close();
}
