/**
 * POST /api/v1/build/prepare as deployed against a bare Hono app in the same
 * run, repeated and new bodies; what it measures is in bench/README.md.
 * Usage: pnpm bench:prepare [-- --duration 5 --rounds 3 --connections 50 --settle 10 --only repeated,distinct,unknown --cpu-prof DIR]
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { availableParallelism } from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { freeLoopbackPort } from "../../services/server/src/private-redis.ts";
import { startFakeUpstream } from "../../test/support/fake-upstream.ts";
import { cpuSeconds, median } from "../build/figures.ts";
import { routerBodies } from "./bodies.ts";

const { values } = parseArgs({
  // pnpm passes its `--` on.
  args: process.argv.slice(2).filter((arg) => arg !== "--"),
  options: {
    duration: { type: "string", default: "5" },
    rounds: { type: "string", default: "3" },
    connections: { type: "string", default: "50" },
    warmup: { type: "string", default: "2" },
    // Seconds of each mode's traffic every server gets once, before that mode's first round.
    settle: { type: "string", default: "10" },
    only: { type: "string" },
    // Also the prepare tier without BUILD_API_URL: what the probe costs.
    "also-unprobed": { type: "boolean", default: false },
    // Every process on every CPU, as the scheduler likes: noisier, see placeServers.
    "no-pin": { type: "boolean", default: false },
    // A directory: the prepare and build tiers write V8 CPU profiles there when they stop
    // (CPU.<date>.<pid>...; the pids are printed).
    "cpu-prof": { type: "string" },
  },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
const warmup = Number(values.warmup);
const settle = Number(values.settle);
const rounds = Number(values.rounds);
// --only takes one mode or several, comma-separated.
const only = values.only?.split(",");
const modes = (["repeated", "distinct", "unknown"] as const).filter(
  (mode) => only === undefined || only.includes(mode),
);
type Mode = (typeof modes)[number];
// `unknown` has no goal: it is the worst case, not traffic.
const GOALS: Record<Mode, number | undefined> = {
  repeated: 0.6,
  distinct: 0.4,
  unknown: undefined,
};
const TITLES: Record<Mode, string> = {
  repeated: "one body repeated:",
  distinct: "a new body on every request (routers' package sets):",
  unknown: "a new body on every request, each with an unknown package (worst case):",
};

const request = {
  version: "24.10.0",
  target: "ath79/generic",
  profile: "tplink,archer-c7-v5",
  packages: ["luci", "auc", "luci-i18n-base-en", "htop", "tcpdump"],
  from_version: "23.05.0",
};
const body = JSON.stringify(request);
// Made up front so the load generator spends its time sending, not building
// bodies; no server gets one body twice (see newBody), so neither its answer
// cache nor its cache_available probe has seen the bodies it is sent.
const newBodies: Record<"distinct" | "unknown", string[]> = {
  distinct: modes.includes("distinct") ? routerBodies(400_000) : [],
  unknown: modes.includes("unknown")
    ? Array.from({ length: 400_000 }, (_, i) =>
        JSON.stringify({ ...request, packages: [...request.packages, `extra-${i}`] }),
      )
    : [],
};
// One walk through the bodies per server and mode: a server never gets a body
// twice (400 000 outlast its settling and rounds), whatever the others were sent.
const counters = new Map<string, number>();
const newBody = (mode: "distinct" | "unknown", url: string) => {
  const bodies = newBodies[mode];
  const key = `${mode} ${url}`;
  const next = counters.get(key) ?? 0;
  counters.set(key, next + 1);
  // The bare app keeps nothing, so bodies it was sent before change nothing there.
  if (next === bodies.length && !url.includes(`:${BARE_PORT}/`)) {
    console.warn(
      `  ${url} has been sent all ${bodies.length} ${mode} bodies: it now gets some again`,
    );
  }
  return bodies[next % bodies.length];
};

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/** Starts a server script and waits until a line of its output passes `ready`. */
async function startServer(
  script: string,
  env: Record<string, string>,
  ready: (line: string) => boolean,
  cpus?: string,
): Promise<ChildProcess> {
  // taskset execs the server, so the child's pid is the server's and its CPU is read as before.
  const [command, args] = cpus
    ? ["taskset", ["-c", cpus, process.execPath, here(script)]]
    : [process.execPath, [here(script)]];
  const child = spawn(command, args, {
    env: { ...process.env, NODE_ENV: "production", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const exited = once(child, "exit").then(([code]) => {
    throw new Error(`${script} exited (${code}) before it was ready`);
  });
  await Promise.race([
    exited,
    (async () => {
      for await (const line of lines) if (ready(line)) return;
    })(),
  ]);
  exited.catch(() => undefined);
  // Later output (logs) is read and dropped, so a full pipe never stalls the server.
  lines.on("line", () => undefined);
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  await exited;
}

async function load(url: string, mode: Mode, seconds: number) {
  const result = await autocannon({
    url,
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    requests:
      mode === "repeated"
        ? undefined
        : [{ setupRequest: (req) => ({ ...req, body: newBody(mode, url) }) }],
    connections,
    duration: seconds,
  });
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) throw new Error(`${url}: ${bad} failed requests`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

/** The build-cache requests the build tier has answered so far, from its own /metrics. */
async function buildCacheRequests(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${BUILD_PORT}/metrics`)).text();
  return text
    .split("\n")
    .filter(
      (line) =>
        line.startsWith("asu_http_requests_total{") && line.includes('route="/api/v1/build-cache"'),
    )
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

async function measure(
  name: string,
  server: { port: number; child: ChildProcess },
  mode: Mode,
  build?: ChildProcess,
) {
  const url = `http://127.0.0.1:${server.port}/api/v1/build/prepare`;
  await load(url, mode, warmup);
  const before = [cpuSeconds(server.child.pid), cpuSeconds(build?.pid)];
  const asksBefore = build ? await buildCacheRequests() : 0;
  const figures = await load(url, mode, duration);
  const used = [cpuSeconds(server.child.pid), cpuSeconds(build?.pid)].map(
    (seconds, i) => seconds - (before[i] as number),
  );
  const requests = figures.rps * duration;
  const µs = (seconds: number, per: number) => `${((seconds / per) * 1e6).toFixed(0)} µs`;
  let buildTier = "";
  if (build) {
    // Each prepare of a new body asks about one new hash; a repeated body's is remembered.
    const asks = (await buildCacheRequests()) - asksBefore;
    // A few requests (a repeated body: one a second) say nothing about one's cost.
    const each = asks >= 50 ? `, ${µs(used[1] as number, asks)} each` : "";
    buildTier = ` (+ build tier ${µs(used[1] as number, requests)}; ${asks} build-cache requests${each})`;
  }
  console.log(
    `  ${name.padEnd(10)} ${figures.rps.toFixed(0).padStart(7)} req/s  p50 ${figures.p50} ms  p99 ${figures.p99} ms  cpu/req ${µs(used[0] as number, requests)}${buildTier}`,
  );
  return figures;
}

// Free ports, not fixed ones: two runs at once (two worktrees) would otherwise load each other's servers.
const [BUILD_PORT, BARE_PORT, PREPARE_PORT, UNPROBED_PORT] = [
  await freeLoopbackPort(),
  await freeLoopbackPort(),
  await freeLoopbackPort(),
  await freeLoopbackPort(),
];

const profiled: Record<string, string> = values["cpu-prof"]
  ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${values["cpu-prof"]}` }
  : {};
/**
 * The servers under test get the last CPU to themselves and everything else
 * the others, as clients never share a server's CPU when deployed; both
 * sides get the same placement, so the ratio is not flattered.
 */
function placeServers(): { servers?: string; layout: string } {
  const count = availableParallelism();
  if (values["no-pin"]) return { layout: "not pinned (--no-pin)" };
  if (count < 2) return { layout: "not pinned (one CPU)" };
  const servers = String(count - 1);
  const rest = count === 2 ? "0" : `0-${count - 2}`;
  try {
    // -a: every thread of this process; children started later inherit it.
    execFileSync("taskset", ["-apc", rest, String(process.pid)], { stdio: "ignore" });
  } catch {
    return { layout: "not pinned (no taskset: util-linux)" };
  }
  return {
    servers,
    layout: `servers under test on CPU ${servers}, load generator and build tier on CPU ${rest}`,
  };
}
const placement = placeServers();

const upstream = await startFakeUpstream();
const children: ChildProcess[] = [];
try {
  const build = await startServer(
    "../build/build-server.ts",
    { PORT: String(BUILD_PORT), ...profiled },
    (line) => line.startsWith("ready"),
  );
  children.push(build);
  const bare = await startServer(
    "./bare-server.ts",
    { PORT: String(BARE_PORT) },
    (line) => line.startsWith("ready"),
    placement.servers,
  );
  children.push(bare);
  const prepare = await startServer(
    "../../services/prepare/src/main.ts",
    {
      PORT: String(PREPARE_PORT),
      HOST: "127.0.0.1",
      UPSTREAM_URL: upstream.url,
      BUILD_API_URL: `http://127.0.0.1:${BUILD_PORT}`,
      LOG_LEVEL: "info",
      ...profiled,
    },
    (line) => line.includes("prepare tier listening"),
    placement.servers,
  );
  children.push(prepare);
  if (values["cpu-prof"]) {
    console.log(
      `CPU profiles in ${values["cpu-prof"]}: prepare pid ${prepare.pid}, build tier pid ${build.pid}`,
    );
  }
  let unprobed: ChildProcess | undefined;
  if (values["also-unprobed"]) {
    unprobed = await startServer(
      "../../services/prepare/src/main.ts",
      { PORT: String(UNPROBED_PORT), HOST: "127.0.0.1", UPSTREAM_URL: upstream.url },
      (line) => line.includes("prepare tier listening"),
      placement.servers,
    );
    children.push(unprobed);
  }

  console.log(
    `${connections} connections, ${duration} s each after ${warmup} s warm-up, ${rounds} rounds, every server first settled ${settle} s per mode; prepare with BUILD_API_URL set to a running build tier; ${placement.layout}`,
  );
  const listed = (list: number[]) =>
    `median ${median(list).toFixed(2)} of ${list.map((r) => r.toFixed(2)).join(", ")}`;
  for (const mode of modes) {
    console.log(TITLES[mode]);
    const ratios: number[] = [];
    const unprobedRatios: number[] = [];
    // A server runs for days, its code optimised for this traffic: settle every
    // server first, or the first round measures JIT tiering and heap growth.
    const servers = [BARE_PORT, PREPARE_PORT, ...(unprobed ? [UNPROBED_PORT] : [])];
    for (const port of servers) {
      await load(`http://127.0.0.1:${port}/api/v1/build/prepare`, mode, settle);
    }
    for (let round = 1; round <= rounds; round++) {
      console.log(` round ${round}`);
      const bareFigures = await measure("bare hono", { port: BARE_PORT, child: bare }, mode);
      const prepareFigures = await measure(
        "prepare",
        { port: PREPARE_PORT, child: prepare },
        mode,
        build,
      );
      ratios.push(prepareFigures.rps / bareFigures.rps);
      if (unprobed) {
        const figures = await measure("unprobed", { port: UNPROBED_PORT, child: unprobed }, mode);
        unprobedRatios.push(figures.rps / bareFigures.rps);
      }
    }
    const goal = GOALS[mode];
    console.log(
      `  ratio prepare/bare: ${listed(ratios)}${goal === undefined ? " (no goal: worst case)" : ` (goal ≥ ${goal})`}`,
    );
    if (unprobedRatios.length > 0) {
      console.log(`  ratio unprobed/bare: ${listed(unprobedRatios)} (no BUILD_API_URL)`);
    }
  }
  console.log(`upstream requests: ${upstream.requests.length}`);
} finally {
  for (const child of children.reverse()) await stop(child);
  await upstream.close();
}
