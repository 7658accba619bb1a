/**
 * Front-door throughput: the stack's tiers straight and, in the same run,
 * through Caddy with the repository's Caddyfile as the microservices stack
 * deploys it (JSON access log, compression, tiers found through a DNS name,
 * /store/ served from the volume). Two scenarios, each alternating direct and
 * proxied for `--rounds` rounds so a neighbour's load falls on both:
 *
 * - prepare: POST /api/v1/build/prepare with one body repeated, as the many
 *   routers of one model send it (the figure issue 10 asks for);
 * - mix: what reaches the front door of a real server at once, in two
 *   streams: prepare (one part in four of the connections) and the build
 *   tier's traffic, which repeats build POSTs of a finished build, status
 *   polls, /json/v1/overview.json and a 1 MiB image download (Caddy serves it
 *   from disk; direct, the build tier's /store/ route does).
 *
 * The tiers are their own processes as deployed: prepare
 * (services/prepare/src/main.ts) with BUILD_API_URL set to the build tier,
 * and the build tier with its Redis and one finished build
 * (bench/build/build-server.ts). Besides req/s it reads each process's CPU
 * time from /proc: the CPU Caddy spends per request against the tiers' shows
 * what bounds the ratio when proxy, tiers and load generator share a
 * machine's cores (see the note printed at the end).
 *
 * Needs Debian's caddy on the PATH (apt-get install -y caddy), the same
 * package the proxy image installs.
 * The prepare tier runs under the CPU quota compose gives each replica
 * (PREPARE_CPUS, 0.5 by default; root and a cgroup cpu controller needed),
 * so Caddy gets the cores a deployment leaves it; the build tier is uncapped
 * there and here.
 *
 * Usage: pnpm bench:front-door [-- --duration 10 --connections 48 --rounds 3
 *   --caddyfile path/to/Caddyfile --scenarios prepare,mix --prepare-cpus 0.5]
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
import { BENCH_PUBLIC_PATH } from "../build/bench-build-tier.ts";
import { cpuSeconds, median } from "../build/figures.ts";
import { request as buildRequest } from "../build/request.ts";
import { type CpuLimit, limitCpu } from "./cpu-limit.ts";

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
  },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
const warmup = Number(values.warmup);
const rounds = Number(values.rounds);
const prepareCpus = Number(values["prepare-cpus"]);

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

async function startBuildTier(): Promise<[ChildProcess, string]> {
  const script = fileURLToPath(new URL("../build/build-server.ts", import.meta.url));
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, PORT: String(BUILD_PORT) },
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
 * Caddy with the stack's Caddyfile; only the names differ: 127.0.0.1 stands
 * for the compose service names and goes through the same dynamic A lookup
 * (`localhost` would add ::1, where the tiers do not listen). The access log
 * goes to a file, as a log collector would take it.
 */
async function startCaddy(caddy: string, logFile: string): Promise<ChildProcess> {
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
      STORE_ROOT: BENCH_PUBLIC_PATH,
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
}

async function load(streams: Stream[], proxied: boolean, seconds: number) {
  const runs = await Promise.all(
    streams.map((stream) =>
      autocannon({
        url: `http://127.0.0.1:${proxied ? PROXY_PORT : stream.port}`,
        requests: stream.requests,
        connections: Math.max(1, Math.round(connections * stream.share)),
        duration: seconds,
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
  processes: Record<string, ChildProcess>,
): Promise<Figures> {
  const before = Object.fromEntries(
    Object.entries(processes).map(([name, child]) => [name, cpuSeconds(child.pid)]),
  );
  const result = await load(streams, proxied, duration);
  const cpu: Record<string, number> = {};
  for (const [name, child] of Object.entries(processes)) {
    cpu[name] = ((cpuSeconds(child.pid) - (before[name] ?? 0)) * 1e6) / result.requests;
  }
  const cpuText = Object.entries(cpu)
    .map(([name, us]) => `${name} ${us.toFixed(0)}`)
    .join(", ");
  console.log(
    `  ${(proxied ? "through caddy" : "direct").padEnd(14)} ${result.rps.toFixed(0).padStart(7)} req/s  p99 ${result.p99} ms  CPU µs/request: ${cpuText}`,
  );
  return { rps: result.rps, p99: result.p99, cpu };
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
const [build, hash] = await startBuildTier();
// A download the size of a small image, the same bytes for both ways in.
await writeFile(join(BENCH_PUBLIC_PATH, "store", hash, IMAGE), randomBytes(IMAGE_BYTES));
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
  proxy = await startCaddy(caddy, join(dir, "caddy.log"));
  const tiers = { prepare, build };
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
      proxied.push(await measure(streams, true, { ...tiers, caddy: proxy }));
    }
    const directRps = median(direct.map((figures) => figures.rps));
    const proxiedRps = median(proxied.map((figures) => figures.rps));
    const tierCpu = median(
      direct.map((figures) => (figures.cpu.prepare ?? 0) + (figures.cpu.build ?? 0)),
    );
    const caddyCpu = median(proxied.map((figures) => figures.cpu.caddy ?? 0));
    summary.push(
      `${name.padEnd(8)} direct ${directRps.toFixed(0)} req/s, through caddy ${proxiedRps.toFixed(0)} req/s (p99 ${median(proxied.map((f) => f.p99))} ms): ratio ${(proxiedRps / directRps).toFixed(2)} (goal ≥ 0.8); CPU per request: tiers ${tierCpu.toFixed(0)} µs, caddy ${caddyCpu.toFixed(0)} µs → ${(tierCpu / (tierCpu + caddyCpu)).toFixed(2)} of direct when caddy and tiers share saturated cores`,
    );
  }
  console.log("medians");
  for (const line of summary) console.log(` ${line}`);
  console.log(
    `Note: on this ${availableParallelism()}-core machine the load generator, the tiers and Caddy compete for the same cores, so every CPU µs Caddy spends per request is taken from the tiers: the last figure of each line estimates the ratio that sharing allows (tiers / (tiers + caddy) CPU per request). With the prepare tier capped as compose caps it (the default, --prepare-cpus 0.5), the tier rather than the shared cores bounds the direct figure, as in a deployment; --prepare-cpus 0 shows the uncapped bound.`,
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
