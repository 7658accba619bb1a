/**
 * Front-door throughput: the tiers direct and through Caddy with the stack's
 * Caddyfile, in alternating rounds; scenarios and figures in bench/README.md.
 * Usage: pnpm bench:front-door [-- --duration 10 --connections 48 --rounds 3
 *   --caddyfile path/to/Caddyfile --scenarios prepare,mix --prepare-cpus 0.5 --rate 800]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import autocannon from "autocannon";
import { startFakeUpstream } from "../../test/support/fake-upstream.ts";
import { findCommand } from "../../test/support/run-command.ts";
import { cpuSeconds, median } from "../build/figures.ts";
import { request as buildRequest } from "../build/request.ts";
import { type CpuLimit, limitCpu } from "./cpu-limit.ts";
import { machineCpu, syscalls, watchConnections } from "./machine.ts";

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== "--"),
  options: {
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "48" },
    warmup: { type: "string", default: "3" },
    rounds: { type: "string", default: "3" },
    caddyfile: { type: "string" },
    scenarios: { type: "string", default: "prepare,mix" },
    // The compose stack's default PREPARE_CPUS; 0 leaves the tier uncapped.
    "prepare-cpus": { type: "string", default: "0.5" },
    // Requests per second, all streams together; unset, as fast as they go.
    rate: { type: "string" },
  },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
const warmup = Number(values.warmup);
const rounds = Number(values.rounds);
const prepareCpus = Number(values["prepare-cpus"]);
const rate = values.rate === undefined ? undefined : Number(values.rate);

const PREPARE_PORT = 18_091;
const BUILD_PORT = 18_092;
const PROXY_PORT = 18_090;
const CADDYFILE = values.caddyfile ?? fileURLToPath(new URL("../../Caddyfile", import.meta.url));
const IMAGE = "openwrt-sysupgrade.bin";
const IMAGE_BYTES = 1024 * 1024;
// Browsers (the Firmware Selector, LuCI) all accept gzip.
const ACCEPT = { "accept-encoding": "gzip" };

const prepareBody = JSON.stringify({
  version: "24.10.0",
  target: "ath79/generic",
  profile: "tplink,archer-c7-v5",
  packages: ["luci", "auc", "luci-i18n-base-en", "htop", "tcpdump"],
  from_version: "23.05.0",
});

async function startBuildTier(publicPath: string): Promise<[ChildProcess, string]> {
  const script = fileURLToPath(new URL("../build/build-server.ts", import.meta.url));
  const child = spawn(process.execPath, [script], {
    // A store of its own: other benches on the machine write the same hash's image.
    env: {
      ...process.env,
      PORT: String(BUILD_PORT),
      BENCH_PUBLIC_PATH: publicPath,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [chunk] = (await once(child.stdout as NodeJS.ReadableStream, "data")) as [Buffer];
  const [word, hash] = String(chunk).trim().split(" ");
  if (word !== "ready" || !hash) throw new Error(`build tier did not start: ${chunk}`);
  return [child, hash];
}

/** The prepare tier's own process, asking the build tier whether a hash is built, as deployed. */
async function startPrepareTier(upstreamUrl: string): Promise<ChildProcess> {
  const script = fileURLToPath(new URL("../../services/prepare/src/main.ts", import.meta.url));
  const child = spawn(process.execPath, [script], {
    env: {
      ...process.env,
      NODE_ENV: "production",
      PORT: String(PREPARE_PORT),
      HOST: "127.0.0.1",
      UPSTREAM_URL: upstreamUrl,
      BUILD_API_URL: `http://127.0.0.1:${BUILD_PORT}`,
      LOG_LEVEL: "info",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const exited = once(child, "exit").then(([code]) => {
    throw new Error(`prepare tier exited (${code}) before it was ready`);
  });
  await Promise.race([
    exited,
    (async () => {
      for await (const line of lines) if (line.includes("prepare tier listening")) return;
    })(),
  ]);
  exited.catch(() => undefined);
  lines.on("line", () => undefined);
  return child;
}

/**
 * Caddy with the stack's Caddyfile; 127.0.0.1 stands for the compose service
 * names (`localhost` would add ::1, where the tiers do not listen).
 */
async function startCaddy(
  caddy: string,
  logFile: string,
  publicPath: string,
): Promise<ChildProcess> {
  const child = spawn(caddy, ["run", "--config", CADDYFILE, "--adapter", "caddyfile"], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: tmpdir(),
      ASU_SITE_ADDRESS: `:${PROXY_PORT}`,
      PREPARE_HOST: "127.0.0.1",
      PREPARE_PORT: String(PREPARE_PORT),
      BUILD_HOST: "127.0.0.1",
      BUILD_PORT: String(BUILD_PORT),
      STORE_BACKEND: "local",
      STORE_ROOT: publicPath,
      ...(process.env.GOMAXPROCS ? { GOMAXPROCS: process.env.GOMAXPROCS } : {}),
      ...(process.env.GOGC ? { GOGC: process.env.GOGC } : {}),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log = createWriteStream(logFile);
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`caddy exited (${child.exitCode}), see ${logFile}`);
    try {
      const res = await fetch(`http://127.0.0.1:${PROXY_PORT}/api/v1/build/prepare`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: prepareBody,
      });
      if (res.ok) return child;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  child.kill("SIGTERM");
  throw new Error(`caddy did not answer within 20 s, see ${logFile}`);
}

type Request = NonNullable<autocannon.Options["requests"]>[number];

interface Stream {
  /** Where it goes straight, without the front door. */
  port: number;
  share: number;
  requests: Request[];
}

const preparePost: Request = {
  method: "POST",
  path: "/api/v1/build/prepare",
  headers: { "content-type": "application/json", ...ACCEPT },
  body: prepareBody,
};

function buildStream(hash: string): Request[] {
  const post: Request = {
    method: "POST",
    path: "/api/v1/build",
    headers: { "content-type": "application/json", ...ACCEPT },
    body: JSON.stringify(buildRequest),
  };
  const poll: Request = { method: "GET", path: `/api/v1/build/${hash}`, headers: ACCEPT };
  const overview: Request = { method: "GET", path: "/json/v1/overview.json", headers: ACCEPT };
  const image: Request = { method: "GET", path: `/store/${hash}/${IMAGE}` };
  // Per 20 answers: devices poll while they wait, pages read the overview, one downloads.
  return [
    post,
    poll,
    overview,
    poll,
    poll,
    post,
    overview,
    poll,
    poll,
    poll,
    post,
    overview,
    poll,
    poll,
    post,
    poll,
    overview,
    poll,
    poll,
    image,
  ];
}

const scenarios: Record<string, (hash: string) => Stream[]> = {
  prepare: () => [{ port: PREPARE_PORT, share: 1, requests: [preparePost] }],
  mix: (hash) => [
    { port: PREPARE_PORT, share: 0.25, requests: [preparePost] },
    { port: BUILD_PORT, share: 0.75, requests: buildStream(hash) },
  ],
};

interface Figures {
  rps: number;
  p99: number;
  /** CPU microseconds per answered request, by process. */
  cpu: Record<string, number>;
  /** Cores busy on average, all work on the machine, and the part that was not ours. */
  busy: number;
  others: number;
}

async function load(streams: Stream[], proxied: boolean, seconds: number) {
  const runs = await Promise.all(
    streams.map((stream) =>
      autocannon({
        url: `http://127.0.0.1:${proxied ? PROXY_PORT : stream.port}`,
        requests: stream.requests,
        connections: Math.max(1, Math.round(connections * stream.share)),
        duration: seconds,
        ...(rate ? { overallRate: Math.max(1, Math.round(rate * stream.share)) } : {}),
      }),
    ),
  );
  for (const result of runs) {
    const bad = result.non2xx + result.errors + result.timeouts;
    if (bad > 0) throw new Error(`${result.url}: ${bad} failed requests`);
  }
  return {
    requests: runs.reduce((sum, result) => sum + result.requests.total, 0),
    rps: runs.reduce((sum, result) => sum + result.requests.average, 0),
    p99: Math.max(...runs.map((result) => result.latency.p99)),
  };
}

async function measure(
  streams: Stream[],
  proxied: boolean,
  processes: Record<string, number | undefined>,
): Promise<Figures> {
  const before = Object.fromEntries(
    Object.entries(processes).map(([name, pid]) => [name, cpuSeconds(pid)]),
  );
  const syscallsBefore = Object.fromEntries(
    Object.entries(processes).map(([name, pid]) => [name, syscalls(pid)]),
  );
  const machineBefore = machineCpu();
  const watch = watchConnections([PROXY_PORT, PREPARE_PORT, BUILD_PORT]);
  const result = await load(streams, proxied, duration);
  const accepted = watch.stop();
  const machineAfter = machineCpu();
  const cpu: Record<string, number> = {};
  const calls: Record<string, number> = {};
  let ours = 0;
  for (const [name, pid] of Object.entries(processes)) {
    const seconds = cpuSeconds(pid) - (before[name] ?? 0);
    ours += seconds;
    cpu[name] = (seconds * 1e6) / result.requests;
    calls[name] = (syscalls(pid) - (syscallsBefore[name] ?? 0)) / result.requests;
  }
  // Cores in use on average, and how many of them went to other work.
  const cores = availableParallelism();
  const wall = (machineAfter.total - machineBefore.total) / cores;
  const busy = (machineAfter.busy - machineBefore.busy) / wall;
  const others = busy - ours / wall;
  const cpuText = Object.entries(cpu)
    .map(([name, us]) => `${name} ${us.toFixed(0)} (${calls[name]?.toFixed(1)} syscalls)`)
    .join(", ");
  console.log(
    `  ${(proxied ? "through caddy" : "direct").padEnd(14)} ${result.rps.toFixed(0).padStart(7)} req/s  p99 ${result.p99} ms  CPU µs/request: ${cpuText}; cores busy ${busy.toFixed(2)}/${cores} (other work ${others.toFixed(2)}); connections to ${proxied ? `caddy ${accepted[PROXY_PORT]}, ` : ""}prepare ${accepted[PREPARE_PORT]}, build ${accepted[BUILD_PORT]}`,
  );
  return { rps: result.rps, p99: result.p99, cpu, busy, others };
}

/** What each kind of answer weighs, plain and gzipped, so the compression settings can be judged. */
async function printSizes(hash: string) {
  const seen = new Set<string>();
  for (const { port, requests } of scenarios.mix?.(hash) ?? []) {
    for (const request of requests) {
      const key = `${request.method} ${request.path}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const res = await fetch(`http://127.0.0.1:${port}${request.path}`, {
        method: request.method,
        headers: request.headers as Record<string, string>,
        body: request.body as string | undefined,
      });
      const bytes = Buffer.from(await res.arrayBuffer());
      console.log(
        `  ${key.replace(hash, "{hash}").padEnd(44)} ${res.status} ${bytes.length} bytes, ${gzipSync(bytes).length} gzipped`,
      );
    }
  }
}

const caddy = findCommand("caddy");
if (!caddy) throw new Error("caddy is not installed (apt-get install -y caddy)");
const dir = await mkdtemp(join(tmpdir(), "asu-front-door-"));
const upstream = await startFakeUpstream();
const publicPath = join(dir, "public");
const [build, hash] = await startBuildTier(publicPath);
// A download the size of a small image, the same bytes for both ways in.
await writeFile(join(publicPath, "store", hash, IMAGE), randomBytes(IMAGE_BYTES));
const prepare = await startPrepareTier(upstream.url);
// The stack caps each prepare replica (PREPARE_CPUS); the same cap here, or
// the bench would measure a tier with cores a deployment leaves to Caddy.
let prepareLimit: CpuLimit | undefined;
if (prepareCpus > 0 && prepare.pid) {
  prepareLimit = limitCpu(prepare.pid, prepareCpus, `asu-bench-prepare-${process.pid}`);
}
let proxy: ChildProcess | undefined;
const summary: string[] = [];
try {
  proxy = await startCaddy(caddy, join(dir, "caddy.log"), publicPath);
  // The bench's own process is the load generator (autocannon runs in it).
  const tiers = { prepare: prepare.pid, build: build.pid, client: process.pid };
  console.log(
    `${connections} connections, ${duration} s each after ${warmup} s warm-up, ${rounds} rounds; one replica per tier; prepare tier ${prepareLimit ? `capped at ${prepareCpus} CPU as compose's PREPARE_CPUS (${prepareLimit.path})` : "uncapped (--prepare-cpus 0)"}, build tier uncapped as in compose`,
  );
  await printSizes(hash);
  for (const name of (values.scenarios ?? "").split(",")) {
    const streamsOf = scenarios[name];
    if (!streamsOf)
      throw new Error(`unknown scenario ${name}: ${Object.keys(scenarios).join(", ")}`);
    const streams = streamsOf(hash);
    console.log(`scenario ${name}`);
    await load(streams, false, warmup);
    await load(streams, true, warmup);
    const direct: Figures[] = [];
    const proxied: Figures[] = [];
    for (let round = 1; round <= rounds; round++) {
      console.log(` round ${round}`);
      direct.push(await measure(streams, false, tiers));
      proxied.push(await measure(streams, true, { ...tiers, caddy: proxy.pid }));
    }
    const directRps = median(direct.map((figures) => figures.rps));
    const proxiedRps = median(proxied.map((figures) => figures.rps));
    const perRequest = (runs: Figures[], names: string[]) =>
      median(runs.map((figures) => names.reduce((sum, n) => sum + (figures.cpu[n] ?? 0), 0)));
    const tierNames = ["prepare", "build"];
    const caddyCpu = perRequest(proxied, ["caddy"]);
    const others = median([...direct, ...proxied].map((figures) => figures.others));
    // The goal's rate, with each process's CPU per request as measured: the
    // tiers and the load generator as in the direct runs (at the higher rate,
    // where an event loop wakes once for several requests), Caddy as proxied.
    const goalRps = 0.8 * directRps;
    const needed =
      (goalRps * (caddyCpu + perRequest(direct, tierNames) + perRequest(direct, ["client"]))) / 1e6;
    summary.push(
      [
        `${name}: ratio ${(proxiedRps / directRps).toFixed(2)} (goal ≥ 0.8): direct ${directRps.toFixed(0)} req/s, through caddy ${proxiedRps.toFixed(0)} req/s (p99 ${median(proxied.map((f) => f.p99))} ms), with other work taking ${others.toFixed(2)} of ${availableParallelism()} cores`,
        `   CPU µs per request, direct → through caddy: tiers ${perRequest(direct, tierNames).toFixed(0)} → ${perRequest(proxied, tierNames).toFixed(0)}, load generator ${perRequest(direct, ["client"]).toFixed(0)} → ${perRequest(proxied, ["client"]).toFixed(0)}, caddy ${caddyCpu.toFixed(0)}`,
        `   ${goalRps.toFixed(0)} req/s (0.8 of direct) takes ${needed.toFixed(2)} cores for caddy, tiers and load generator together (caddy ${((goalRps * caddyCpu) / 1e6).toFixed(2)}); the machine has ${availableParallelism()}`,
      ].join("\n"),
    );
  }
  console.log("medians");
  for (const line of summary) console.log(` ${line}`);
  console.log(
    `Note: the load generator, the tiers and Caddy share this machine's ${availableParallelism()} cores (and share them with any other work, shown per run). With the prepare tier capped as compose caps it (the default, --prepare-cpus 0.5), the tier's quota bounds the direct figure, as in a deployment; through Caddy, the cores left for Caddy do once the last line of a scenario needs more cores than the machine has. Then the ratio measures this machine, not the front door: in a deployment the clients are elsewhere and Caddy has the host's other cores. CPU per request grows as throughput falls (fewer requests per wake-up of each process), so the proxied runs' figures for the tiers and the load generator are higher without more work per request; the syscall counts show that work.`,
  );
} finally {
  proxy?.kill("SIGTERM");
  prepare.kill("SIGTERM");
  build.kill("SIGTERM");
  if (proxy) await once(proxy, "exit");
  await once(build, "exit");
  if (prepare.exitCode === null && prepare.signalCode === null) await once(prepare, "exit");
  prepareLimit?.remove();
  await upstream.close();
  await rm(dir, { recursive: true, force: true });
}
