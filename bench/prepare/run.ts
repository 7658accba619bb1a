/**
 * Loads POST /api/v1/build/prepare and, in the same run, a bare Hono app that
 * parses the same body and answers JSON; prints both, their ratio and p99.
 * Each server runs in its own process so the load generator does not share
 * its event loop. Usage: pnpm bench:prepare [-- --duration 10 --connections 50 --distinct]
 *
 * By default every request carries the same body, as the many routers of one
 * model do, so the prepare tier answers from its short-lived answer cache.
 * `--distinct` gives every request a body of its own (an extra package name
 * with a counter): the full validate → resolve → hash path each time.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "50" },
    warmup: { type: "string", default: "3" },
    distinct: { type: "boolean", default: false },
  },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
const warmup = Number(values.warmup);

const request = {
  version: "24.10.0",
  target: "ath79/generic",
  profile: "tplink,archer-c7-v5",
  packages: ["luci", "auc", "luci-i18n-base-en", "htop", "tcpdump"],
  from_version: "23.05.0",
};
const body = JSON.stringify(request);
// Made up front so the load generator spends its time sending, not building
// bodies; far more of them than the answer cache keeps, so none repeat in time.
const distinctBodies = values.distinct
  ? Array.from({ length: 50_000 }, (_, i) =>
      JSON.stringify({ ...request, packages: [...request.packages, `extra-${i}`] }),
    )
  : [];
let counter = 0;
const distinctBody = () => distinctBodies[counter++ % distinctBodies.length];

async function startServer(script: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [fileURLToPath(new URL(script, import.meta.url))], {
    env: { ...process.env, PORT: String(port), NODE_ENV: "production" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [chunk] = (await once(child.stdout as NodeJS.ReadableStream, "data")) as [Buffer];
  if (!String(chunk).includes("ready")) throw new Error(`${script} did not start: ${chunk}`);
  return child;
}

async function load(url: string, seconds: number) {
  const result = await autocannon({
    url,
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    requests: values.distinct
      ? [{ setupRequest: (req) => ({ ...req, body: distinctBody() }) }]
      : undefined,
    connections,
    duration: seconds,
  });
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) throw new Error(`${url}: ${bad} failed requests`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

async function measure(name: string, script: string, port: number) {
  const server = await startServer(script, port);
  try {
    const url = `http://127.0.0.1:${port}/api/v1/build/prepare`;
    await load(url, warmup);
    const figures = await load(url, duration);
    console.log(
      `${name.padEnd(10)} ${figures.rps.toFixed(0).padStart(7)} req/s  p50 ${figures.p50} ms  p99 ${figures.p99} ms`,
    );
    return figures;
  } finally {
    server.kill("SIGTERM");
  }
}

console.log(
  `${connections} connections, ${duration} s each after ${warmup} s warm-up, ${values.distinct ? "a distinct body per request" : "one body repeated"}`,
);
const bare = await measure("bare hono", "./bare-server.ts", 18_081);
const prepare = await measure("prepare", "./prepare-server.ts", 18_082);
console.log(`ratio prepare/bare: ${(prepare.rps / bare.rps).toFixed(2)} (goal ≥ 0.6)`);
console.log(`prepare p99: ${prepare.p99} ms (goal < 25 ms)`);
