/**
 * Benchmark (d): builds as deployed (three tiers as their own processes, a
 * client that prepares, posts and polls) against raw `podman run`s; see
 * bench/README.md. IMAGE_PULL is `missing`: no registry is reachable here.
 * Usage: pnpm bench:build-deployed -- [--runs 5] [--builds 8] [--workers 2] [--poll-ms 50] [--rounds 3] [--only single|parallel]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readWorkers } from "@asu/queue";
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
import { startRedisServer } from "../../test/support/redis-server.ts";
import { BENCH_BASE_CONTAINER, BENCH_IMAGE, BENCH_IMAGE_REF } from "./bench-stack.ts";
import { distinctRequests } from "./distinct-requests.ts";
import { machineLoad, median, minimum, ms } from "./figures.ts";
import { openJobTimes } from "./job-times.ts";
import { type BaselineOptions, baselineBuild } from "./podman-baseline.ts";
import { cpuLine, reapedChildrenCpu, treeCpu, untilQuiet } from "./process-cpu.ts";
import { startTierProcess, stopTierProcess, type TierProcess } from "./tier-processes.ts";
import { type TimedBuild, timedBuild } from "./timed-build.ts";

const { values } = parseArgs({
  // pnpm passes its `--` on.
  args: process.argv.slice(2).filter((arg) => arg !== "--"),
  options: {
    runs: { type: "string", default: "5" },
    builds: { type: "string", default: "8" },
    workers: { type: "string", default: "2" },
    "poll-ms": { type: "string", default: "50" },
    rounds: { type: "string", default: "3" },
    only: { type: "string" },
  },
});
const runs = Number(values.runs);
const builds = Number(values.builds);
const workerCount = Number(values.workers);
const pollMs = Number(values["poll-ms"]);
const rounds = Number(values.rounds);
/** Longest wait for the server's leftovers before the next side is timed. */
const SETTLE_MAX_MS = 20_000;

const tiers: TierProcess[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

/** `pnpm start:…` in its own process group, kept for the stop and the RSS readings. */
function startTier(name: string, script: string, env: Record<string, string>): TierProcess {
  const tier = startTierProcess(name, script, env);
  tiers.push(tier);
  return tier;
}

/** How long the client saw each stage, e.g. `queued 40 ms, container_setup 90 ms, …`. */
function stageLine(timed: TimedBuild): string {
  const seen = [...timed.stages, { stage: "done", at: timed.doneAt }];
  return seen
    .slice(0, -1)
    .map(({ stage, at }, i) => `${stage} ${ms((seen[i + 1] as { at: number }).at - at)}`)
    .join(", ");
}
async function stopAll() {
  await Promise.all(tiers.map(stopTierProcess));
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
}

async function until(what: string, ready: () => Promise<boolean>, timeoutMs = 180_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what} not ready`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function main() {
  const upstream = await startFakeUpstream();
  cleanups.push(() => upstream.close());
  const redis = await startRedisServer();
  cleanups.push(() => redis.stop());
  const podman = await startPodmanService();
  cleanups.push(() => podman.stop());
  await ensurePodmanNetwork(podman.env, BUILD_NETWORK);
  // As deployed: the worker refuses a build network that reaches the host.
  await guardBuildNetwork(BUILD_NETWORK, { env: podman.env });
  cleanups.push(() => unguardBuildNetwork(BUILD_NETWORK));
  await buildImagebuilderDouble(podman, { ...BENCH_IMAGE, baseContainer: BENCH_BASE_CONTAINER });
  const publicPath = await mkdtemp(join(tmpdir(), "asu-bench-deployed-"));
  cleanups.push(() => rm(publicPath, { recursive: true, force: true }));
  const hashes = new Set<string>();
  const baselineNames = new Set<string>();
  cleanups.push(async () => {
    const { default: Docker } = await import("dockerode");
    const docker = new Docker({ socketPath: podman.socketPath });
    for (const hash of hashes) await removeBuildContainers(docker, hash).catch(() => {});
    for (const name of baselineNames) {
      await runPodman(podman.env, ["rm", "--force", "--ignore", name]).catch(() => {});
    }
  });

  const [buildPort, preparePort] = [await freeLoopbackPort(), await freeLoopbackPort()];
  const common = {
    REDIS_URL: redis.url,
    UPSTREAM_URL: upstream.url,
    PUBLIC_PATH: publicPath,
    CONTAINER_SOCKET_PATH: podman.socketPath,
    BASE_CONTAINER: BENCH_BASE_CONTAINER,
    IMAGE_PULL: "missing",
    HOST: "127.0.0.1",
    LOG_LEVEL: "warn",
  };
  const buildUrl = `http://127.0.0.1:${buildPort}`;
  const prepareUrl = `http://127.0.0.1:${preparePort}`;
  startTier("build", "start:build", {
    ...common,
    PORT: String(buildPort),
  });
  startTier("prepare", "start:prepare", {
    ...common,
    PORT: String(preparePort),
    BUILD_API_URL: buildUrl,
  });
  const client = redis.client();
  const startWorkers = async (count: number) => {
    const before = (await readWorkers(client)).length;
    for (let i = 0; i < count; i++) {
      startTier(`worker ${i + 1}`, "start:worker", {
        ...common,
        WORKER_CONCURRENCY: "1",
        METRICS_PORT: "0",
      });
    }
    await until("workers", async () => (await readWorkers(client)).length >= before + count);
  };
  await until("build tier", async () => (await fetch(`${buildUrl}/health`)).ok);
  await until("prepare tier", async () => (await fetch(`${prepareUrl}/health`)).ok);
  const jobTimes = openJobTimes(redis.url);
  cleanups.push(() => jobTimes.close());

  let named = 0;
  const baselineOptions = (requestHash: string): BaselineOptions => {
    const name = `asu-bench-deployed-${process.pid}-${named++}`;
    baselineNames.add(name);
    return {
      podmanEnv: podman.env,
      image: BENCH_IMAGE_REF,
      binDir: `/builder/${requestHash}`,
      network: BUILD_NETWORK,
      name,
    };
  };
  const commandsOf = (timed: TimedBuild) => [
    INFO_COMMAND,
    manifestCommand(timed.body.id, timed.body.build_cmd_packages),
    timed.body.build_cmd as string[],
  ];

  /** What a client does: prepare, then build the prepared request and poll. */
  async function clientBuild(request: unknown) {
    const prepared = await fetch(`${prepareUrl}/api/v1/build/prepare`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(request),
    });
    const answer = (await prepared.json()) as { prepared_request: unknown };
    if (!prepared.ok) throw new Error(`prepare answered ${prepared.status}`);
    return timedBuild(buildUrl, answer.prepared_request, {
      pollMs,
      query: "skip_package_resolution=true",
      onHash: (hash) => hashes.add(hash),
      timeoutMs: 600_000,
    });
  }

  const cpu = (): Record<string, number> => ({
    ...treeCpu(
      tiers.map(({ name, child }) => [name.startsWith("worker") ? "workers" : name, child.pid]),
      { "podman service": "podman", redis: "redis-server" },
    ),
    client: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
    "podman CLI": reapedChildrenCpu(),
  });
  /**
   * Waits until the server's builds left nothing running (removals, readied
   * containers), so the next side timed does not pay for them.
   */
  const settled = () =>
    untilQuiet(() => {
      const now = cpu();
      return (now.workers ?? 0) + (now["podman service"] ?? 0);
    }, SETTLE_MAX_MS);

  const requests = distinctRequests(3 + runs + builds * rounds);
  console.log(
    `deployed builds: tiers by their start scripts, client polls every ${pollMs} ms, ${BENCH_IMAGE_REF}`,
  );
  console.log(machineLoad());

  if (values.only !== "parallel") {
    await startWorkers(1);
    // The first build pulls nothing but warms every cache: not counted.
    await clientBuild(requests[0]);
    const rows: { client: number; worker: number; pickup: number; floor: number }[] = [];
    for (const [i, request] of requests.slice(3, 3 + runs).entries()) {
      const timed = await clientBuild(request);
      const job = await jobTimes.read(timed.requestHash);
      await settled();
      const floor = await baselineBuild(baselineOptions(timed.requestHash), commandsOf(timed));
      rows.push({
        client: timed.ms,
        worker: job.finishedAt - job.startedAt,
        pickup: job.startedAt - timed.postedAt,
        floor,
      });
      console.log(
        `run ${i + 1}: client waited ${ms(timed.ms)} (worker ${ms(job.finishedAt - job.startedAt)}, taken ${ms(job.startedAt - timed.postedAt)} after the POST was sent, 200 seen ${ms(timed.doneAt - job.finishedAt)} after it finished)  podman run ${ms(floor)}`,
      );
      console.log(`  stages as the client's polls saw them: ${stageLine(timed)}`);
    }
    const col = (key: keyof (typeof rows)[number]) => rows.map((row) => row[key]);
    console.log("");
    console.log(
      `single build: client median ${ms(median(col("client")))} min ${ms(minimum(col("client")))}; worker median ${ms(median(col("worker")))}; podman run median ${ms(median(col("floor")))} min ${ms(minimum(col("floor")))}`,
    );
    console.log(
      `ratio client/podman run: median ${(median(col("client")) / median(col("floor"))).toFixed(2)}×  min ${(minimum(col("client")) / minimum(col("floor"))).toFixed(2)}× (goal ≤ 1.2×)`,
    );
    console.log(machineLoad());
  }

  if (values.only !== "single") {
    const running = (await readWorkers(client)).length;
    if (running < workerCount) await startWorkers(workerCount - running);
    // Every worker's first build of the image asks it what later builds reuse: not counted.
    await Promise.all([clientBuild(requests[1]), clientBuild(requests[2])]);

    /** The batch through the server: wall until the last client saw its 200, and until the last job ended. */
    const serverBatch = async (batch: unknown[]) => {
      await settled();
      const before = cpu();
      const started = performance.now();
      const results = await Promise.all(batch.map((request) => clientBuild(request)));
      const wall = Math.max(...results.map((result) => result.doneAt)) - started;
      const spent = cpuLine(before, cpu());
      const jobs = await Promise.all(results.map((result) => jobTimes.read(result.requestHash)));
      const serverWall = Math.max(...jobs.map((job) => job.finishedAt)) - started;
      return { results, jobs, wall, serverWall, spent };
    };
    /** The same builds' commands as raw `podman run`s, `workerCount` at a time. */
    const rawBatch = async (results: TimedBuild[]) => {
      const queue = [...results];
      await settled();
      const before = cpu();
      const started = performance.now();
      await Promise.all(
        Array.from({ length: workerCount }, async () => {
          for (let next = queue.shift(); next; next = queue.shift()) {
            await baselineBuild(baselineOptions(next.requestHash), commandsOf(next));
          }
        }),
      );
      return { wall: performance.now() - started, spent: cpuLine(before, cpu()) };
    };

    // Rounds alternate which goes first, so a load that comes or goes
    // during the run weighs on both sides. Raw runs that go first repeat
    // the previous round's commands (a raw run keeps nothing between runs).
    const rows: { wall: number; serverWall: number; floor: number }[] = [];
    let previous: TimedBuild[] = [];
    for (let round = 0; round < rounds; round++) {
      const batch = requests.slice(3 + runs + round * builds, 3 + runs + (round + 1) * builds);
      const rawFirst = round % 2 === 1;
      const rawEarly = rawFirst ? await rawBatch(previous) : undefined;
      const server = await serverBatch(batch);
      const raw = rawEarly ?? (await rawBatch(server.results));
      previous = server.results;
      rows.push({ wall: server.wall, serverWall: server.serverWall, floor: raw.wall });
      console.log("");
      console.log(
        `round ${round + 1} (${rawFirst ? "podman runs first" : "server first"}): ${builds} builds on ${workerCount} workers: wall ${ms(server.wall)} (last job ended at ${ms(server.serverWall)}); the same podman runs ${workerCount} at a time ${ms(raw.wall)}; ratio ${(server.wall / raw.wall).toFixed(2)}×`,
      );
      console.log(
        `  in worker: median ${ms(median(server.jobs.map((job) => job.finishedAt - job.startedAt)))} per build`,
      );
      console.log(`  CPU while the server built: ${server.spent}`);
      console.log(`  CPU while podman ran them: ${raw.spent}`);
      console.log(`  ${machineLoad()}`);
    }
    const sum = (key: keyof (typeof rows)[number]) =>
      rows.reduce((total, row) => total + row[key], 0);
    console.log("");
    console.log(
      `parallel: ${builds} builds on ${workerCount} workers, ${rounds} rounds, client polls every ${pollMs} ms: wall ${ms(sum("wall"))} against ${ms(sum("floor"))} of podman runs ${workerCount} at a time: ratio ${(sum("wall") / sum("floor")).toFixed(2)}× (rounds: ${rows.map((row) => (row.wall / row.floor).toFixed(2)).join(", ")}) (goal ≤ 1.25×); until the last job ended ${(sum("serverWall") / sum("floor")).toFixed(2)}×`,
    );
    console.log(machineLoad());
  }
}

const onSignal = () => {
  void stopAll().finally(() => process.exit(130));
};
process.once("SIGINT", onSignal);
process.once("SIGTERM", onSignal);
try {
  await main();
} finally {
  await stopAll();
}
