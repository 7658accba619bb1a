/**
 * Benchmark (c): 8 distinct builds on 2 workers against 8 × one build / 2,
 * measured in the same run; `--trace` times every container API call.
 * Usage: pnpm bench:build-parallel -- [--builds 8] [--workers 2] [--singles 3] [--poll-ms 50] [--trace]
 */
import { parseArgs } from "node:util";
import { createLogger } from "@asu/observability";
import { startWorker } from "../../packages/build-worker/src/worker.ts";
import { withBenchStack } from "./bench-stack.ts";
import { printCallComparison } from "./call-summary.ts";
import { distinctRequests } from "./distinct-requests.ts";
import { traceDocker } from "./docker-trace.ts";
import { machineLoad, median, minimum, ms } from "./figures.ts";
import { openJobTimes } from "./job-times.ts";
import { timedBuild } from "./timed-build.ts";

const { values } = parseArgs({
  // pnpm passes its `--` on.
  args: process.argv.slice(2).filter((arg) => arg !== "--"),
  options: {
    builds: { type: "string", default: "8" },
    workers: { type: "string", default: "2" },
    singles: { type: "string", default: "3" },
    // Eight clients poll at once here, in the process that also runs the workers.
    "poll-ms": { type: "string", default: "50" },
    trace: { type: "boolean", default: false },
  },
});
const builds = Number(values.builds);
const workers = Number(values.workers);
const singles = Number(values.singles);
const pollMs = Number(values["poll-ms"]);

await withBenchStack(async ({ stack, trackBuild, onCleanup }) => {
  const traced = values.trace ? traceDocker(stack.docker) : undefined;
  for (let i = 0; i < workers; i++) {
    if (traced) {
      const worker = await startWorker({
        config: { ...stack.config, worker_concurrency: 1 },
        docker: traced.docker,
        logger: createLogger({ service: "worker", level: "warn" }),
      });
      onCleanup(() => worker.close());
    } else {
      await stack.startWorker({ worker_concurrency: 1 });
    }
  }
  const jobs = openJobTimes(stack.redis.url);
  onCleanup(() => jobs.close());
  const build = (request: unknown) =>
    timedBuild(stack.buildUrl, request, { pollMs, onHash: trackBuild, timeoutMs: 600_000 });

  console.log(
    `parallel builds: ${builds} builds, ${workers} workers of concurrency 1, polls every ${pollMs} ms`,
  );
  console.log(machineLoad());
  const [warmUp, ...rest] = distinctRequests(1 + singles + builds);
  await build(warmUp);
  traced?.trace.clear();
  const singleTimes: number[] = [];
  for (const request of rest.slice(0, singles)) singleTimes.push((await build(request)).ms);
  const single = median(singleTimes);
  console.log(
    `single build: median ${ms(single)}  min ${ms(minimum(singleTimes))}  (${singleTimes.map((t) => t.toFixed(0)).join(", ")} ms)`,
  );

  const singleEvents = [...(traced?.trace.events ?? [])];
  traced?.trace.clear();
  const started = performance.now();
  const results = await Promise.all(rest.slice(singles).map((request) => build(request)));
  const wall = Math.max(...results.map((result) => result.doneAt)) - started;
  const rows = await Promise.all(
    results.map(async (result) => ({ result, job: await jobs.read(result.requestHash) })),
  );
  rows.sort((a, b) => a.job.startedAt - b.job.startedAt);

  console.log("");
  console.log("build  queue wait   in worker   client saw 200 after");
  for (const [i, { result, job }] of rows.entries()) {
    console.log(
      `${String(i + 1).padStart(5)}  ${ms(job.startedAt - job.enqueuedAt).padStart(10)}  ${ms(job.finishedAt - job.startedAt).padStart(10)}  ${ms(result.doneAt - started).padStart(10)}`,
    );
  }
  const waits = rows.map(({ job }) => job.startedAt - job.enqueuedAt);
  const inWorker = rows.map(({ job }) => job.finishedAt - job.startedAt);
  const busy = inWorker.reduce((sum, value) => sum + value, 0);
  const ideal = (builds * single) / workers;
  console.log("");
  console.log(`queue wait: median ${ms(median(waits))}  max ${ms(Math.max(...waits))}`);
  console.log(
    `in worker: median ${ms(median(inWorker))} per build; workers busy ${((busy / (wall * workers)) * 100).toFixed(0)}% of the wall time`,
  );
  console.log(`wall ${ms(wall)}  ideal ${ms(ideal)} (${builds} × ${ms(single)} / ${workers})`);
  console.log(`ratio wall/ideal: ${(wall / ideal).toFixed(2)}×`);
  console.log(machineLoad());
  if (traced) {
    console.log("");
    printCallComparison([
      { title: "alone", events: singleEvents },
      { title: "parallel", events: traced.trace.events },
    ]);
  }
});
