/**
 * Benchmark (b): one fresh build end to end against the same three `make`
 * steps in one `podman run --rm`, and where the build's time goes.
 * Usage: pnpm bench:build-fresh -- [--runs 5] [--poll-ms 20]
 */
import { parseArgs } from "node:util";
import {
  INFO_COMMAND,
  manifestCommand,
} from "../../packages/build-worker/src/imagebuilder-commands.ts";
import { startWorker } from "../../packages/build-worker/src/worker.ts";
import { BENCH_IMAGE_REF, withBenchStack } from "./bench-stack.ts";
import {
  type BuildObservation,
  commandTimes,
  medianCommandTimes,
  medianPhases,
  phasesOf,
  printPhases,
  printTimeline,
} from "./build-breakdown.ts";
import { distinctRequests } from "./distinct-requests.ts";
import { traceDocker } from "./docker-trace.ts";
import { machineLoad, median, minimum, ms } from "./figures.ts";
import { openJobTimes } from "./job-times.ts";
import { captureLogs } from "./log-capture.ts";
import { type BaselineOptions, baselineBuild, emptyRun } from "./podman-baseline.ts";
import { treeCpu, untilQuiet } from "./process-cpu.ts";
import { timedBuild } from "./timed-build.ts";

const { values } = parseArgs({
  // pnpm passes its `--` on.
  args: process.argv.slice(2).filter((arg) => arg !== "--"),
  options: {
    runs: { type: "string", default: "5" },
    "poll-ms": { type: "string", default: "20" },
  },
});
const runs = Number(values.runs);
const pollMs = Number(values["poll-ms"]);

interface Round {
  server: BuildObservation;
  baselineMs: number;
  emptyMs: number;
}

await withBenchStack(async ({ stack, trackBuild, trackContainer, onCleanup, track }) => {
  const { docker, trace } = traceDocker(stack.docker);
  const logs = captureLogs("worker");
  const worker = await startWorker({
    config: { ...stack.config, worker_concurrency: 1 },
    logger: logs.logger,
    docker,
  });
  onCleanup(() => worker.close());
  const jobs = openJobTimes(stack.redis.url);
  onCleanup(() => jobs.close());

  let containers = 0;
  const baselineOptions = (binDir: string): BaselineOptions => {
    const name = `asu-bench-fresh-${process.pid}-${containers++}`;
    trackContainer(name);
    return {
      podmanEnv: stack.podman.env,
      image: BENCH_IMAGE_REF,
      binDir,
      network: stack.config.container_network,
      name,
    };
  };

  async function round(request: unknown): Promise<Round> {
    trace.clear();
    logs.clear();
    const timed = await timedBuild(stack.buildUrl, request, { pollMs, onHash: trackBuild });
    const server: BuildObservation = {
      timed,
      job: await jobs.read(timed.requestHash),
      events: [...trace.events],
      logs: [...logs.entries],
    };
    // Exactly the commands the worker ran for this request, from its answer.
    const { body } = timed;
    const commands = [
      INFO_COMMAND,
      manifestCommand(body.id, body.build_cmd_packages),
      body.build_cmd,
    ];
    const binDir = `/builder/${timed.requestHash}`;
    // The build's container removal, or a container readied for a later build, is the server's.
    await untilQuiet(() => treeCpu([], { podman: "podman" }).podman ?? 0);
    const baselineMs = await track(baselineBuild(baselineOptions(binDir), commands));
    const emptyMs = await track(emptyRun(baselineOptions(binDir)));
    return { server, baselineMs, emptyMs };
  }

  console.log(
    `fresh build: ${runs} runs after 1 warm-up, one worker, polls every ${pollMs} ms, ${BENCH_IMAGE_REF}`,
  );
  console.log(machineLoad());
  const [warmUp, ...requests] = distinctRequests(runs + 1);
  await round(warmUp);
  const rounds: Round[] = [];
  for (const [i, request] of requests.entries()) {
    const result = await round(request);
    rounds.push(result);
    console.log(
      `run ${i + 1}: server ${ms(result.server.timed.ms)}  podman run ${ms(result.baselineMs)}  empty podman run ${ms(result.emptyMs)}`,
    );
  }

  const server = rounds.map((r) => r.server.timed.ms);
  const baseline = rounds.map((r) => r.baselineMs);
  const empty = rounds.map((r) => r.emptyMs);
  const line = (name: string, figures: number[]) =>
    console.log(
      `${name.padEnd(18)} median ${ms(median(figures)).padStart(8)}  min ${ms(minimum(figures)).padStart(8)}`,
    );
  console.log("");
  line("server build", server);
  line("podman run", baseline);
  line("empty podman run", empty);
  const commandsMs = median(baseline) - median(empty);
  console.log(
    `the three commands in the podman run: ${commandsMs > 0 ? `about ${ms(commandsMs)}` : "too noisy to tell"} (podman run − empty podman run)`,
  );
  console.log(
    `ratio server/podman run: median ${(median(server) / median(baseline)).toFixed(2)}×  min ${(minimum(server) / minimum(baseline)).toFixed(2)}× (goal ≤ 1.2×)`,
  );
  console.log(machineLoad());

  console.log("");
  const observations = rounds.map((r) => r.server);
  printPhases(
    `server build, median of each phase over ${runs} runs:`,
    medianPhases(observations),
    medianCommandTimes(observations),
  );
  const typical = [...observations].sort((a, b) => a.timed.ms - b.timed.ms)[
    Math.floor(observations.length / 2)
  ];
  if (typical) {
    console.log("");
    printPhases(
      `the median run (${ms(typical.timed.ms)}):`,
      phasesOf(typical),
      commandTimes(typical.events),
    );
    printTimeline(typical);
  }
});
