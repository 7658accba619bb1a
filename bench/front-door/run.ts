/**
 * Front-door throughput: POST /api/v1/build/prepare (one body repeated, as
 * the many routers of one model send it) straight to the prepare tier and,
 * in the same run, through Caddy with the repository's Caddyfile, as the
 * microservices stack deploys it (JSON access log, compression, the tier
 * found through a DNS name). The two alternate for `--rounds` rounds, so a
 * neighbour's load on a shared machine falls on both; prints every round,
 * the medians, their ratio and p99.
 *
 * The tier is its own process (services/prepare/src/main.ts) on the fake
 * upstream, as in bench:prepare but without BUILD_API_URL: the front door is
 * what differs between the two. Needs Debian's caddy on the PATH (apt-get install -y caddy), the same
 * package the proxy image installs.
 * Usage: pnpm bench:front-door [-- --duration 10 --connections 50 --rounds 3]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { startFakeUpstream } from "../../test/support/fake-upstream.ts";
import { findCommand } from "../../test/support/run-command.ts";

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== "--"),
  options: {
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "50" },
    warmup: { type: "string", default: "3" },
    rounds: { type: "string", default: "3" },
  },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
const warmup = Number(values.warmup);
const rounds = Number(values.rounds);

const TIER_PORT = 18_091;
const PROXY_PORT = 18_090;
const CADDYFILE = fileURLToPath(new URL("../../Caddyfile", import.meta.url));

const body = JSON.stringify({
  version: "24.10.0",
  target: "ath79/generic",
  profile: "tplink,archer-c7-v5",
  packages: ["luci", "auc", "luci-i18n-base-en", "htop", "tcpdump"],
  from_version: "23.05.0",
});

/** The prepare tier's own process (services/prepare/src/main.ts) on the fake upstream. */
async function startTier(upstreamUrl: string): Promise<ChildProcess> {
  const script = fileURLToPath(new URL("../../services/prepare/src/main.ts", import.meta.url));
  const child = spawn(process.execPath, [script], {
    env: {
      ...process.env,
      NODE_ENV: "production",
      PORT: String(TIER_PORT),
      HOST: "127.0.0.1",
      UPSTREAM_URL: upstreamUrl,
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
 * for the compose service name and goes through the same dynamic A lookup
 * (`localhost` would add ::1, where the tier does not listen). The access log
 * goes to a file, as a log collector would take it.
 */
async function startCaddy(caddy: string, logFile: string): Promise<ChildProcess> {
  const child = spawn(caddy, ["run", "--config", CADDYFILE, "--adapter", "caddyfile"], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: tmpdir(),
      ASU_SITE_ADDRESS: `:${PROXY_PORT}`,
      PREPARE_HOST: "127.0.0.1",
      PREPARE_PORT: String(TIER_PORT),
      BUILD_HOST: "127.0.0.1",
      BUILD_PORT: String(TIER_PORT),
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
        body,
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

async function load(url: string, seconds: number) {
  const result = await autocannon({
    url,
    method: "POST",
    headers: { "content-type": "application/json", "accept-encoding": "gzip" },
    body,
    connections,
    duration: seconds,
  });
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) throw new Error(`${url}: ${bad} failed requests`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

type Figures = Awaited<ReturnType<typeof load>>;

async function measure(name: string, port: number): Promise<Figures> {
  const figures = await load(`http://127.0.0.1:${port}/api/v1/build/prepare`, duration);
  console.log(
    `  ${name.padEnd(14)} ${figures.rps.toFixed(0).padStart(7)} req/s  p50 ${figures.p50} ms  p99 ${figures.p99} ms`,
  );
  return figures;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] ?? 0)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

const caddy = findCommand("caddy");
if (!caddy) throw new Error("caddy is not installed (apt-get install -y caddy)");
const dir = await mkdtemp(join(tmpdir(), "asu-front-door-"));
const upstream = await startFakeUpstream();
const tier = await startTier(upstream.url);
let proxy: ChildProcess | undefined;
try {
  proxy = await startCaddy(caddy, join(dir, "caddy.log"));
  console.log(
    `${connections} connections, ${duration} s each after ${warmup} s warm-up, ${rounds} rounds; one prepare tier`,
  );
  await load(`http://127.0.0.1:${TIER_PORT}/api/v1/build/prepare`, warmup);
  await load(`http://127.0.0.1:${PROXY_PORT}/api/v1/build/prepare`, warmup);
  const direct: Figures[] = [];
  const proxied: Figures[] = [];
  for (let round = 1; round <= rounds; round++) {
    console.log(`round ${round}`);
    direct.push(await measure("direct (tier)", TIER_PORT));
    proxied.push(await measure("through caddy", PROXY_PORT));
  }
  const directRps = median(direct.map((figures) => figures.rps));
  const proxiedRps = median(proxied.map((figures) => figures.rps));
  console.log(
    `median direct ${directRps.toFixed(0)} req/s, through caddy ${proxiedRps.toFixed(0)} req/s`,
  );
  console.log(`p99 through caddy: ${median(proxied.map((figures) => figures.p99))} ms`);
  console.log(`ratio caddy/direct: ${(proxiedRps / directRps).toFixed(2)} (goal ≥ 0.8)`);
} finally {
  proxy?.kill("SIGTERM");
  tier.kill("SIGTERM");
  if (proxy) await once(proxy, "exit");
  await upstream.close();
  await rm(dir, { recursive: true, force: true });
}
