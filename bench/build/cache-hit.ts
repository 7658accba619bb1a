/**
 * Benchmark (a): cache-hit POST /api/v1/build and status GET against a bare
 * Hono app answering a same-sized JSON body, in alternating rounds.
 * Usage: pnpm bench:build-cache [-- --duration 10 --connections 50 --rounds 3 --warmup 2]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { request } from "./request.ts";

const { values } = parseArgs({
  // pnpm passes its `--` on.
  args: process.argv.slice(2).filter((arg) => arg !== "--"),
  options: {
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "50" },
    rounds: { type: "string", default: "3" },
    warmup: { type: "string", default: "2" },
  },
});
const rounds = Number(values.rounds);
const warmup = Number(values.warmup);
const duration = Number(values.duration);
const connections = Number(values.connections);
const body = JSON.stringify(request);

async function start(script: string, port: number): Promise<[ChildProcess, string]> {
  const child = spawn(process.execPath, [fileURLToPath(new URL(script, import.meta.url))], {
    env: { ...process.env, PORT: String(port) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [chunk] = (await once(child.stdout as NodeJS.ReadableStream, "data")) as [Buffer];
  const [word, hash] = String(chunk).trim().split(" ");
  if (word !== "ready" || !hash) throw new Error(`${script} did not start: ${chunk}`);
  return [child, hash];
}

async function load(url: string, method: "GET" | "POST") {
  // Unmeasured first, so neither side is judged on its cold start (JIT, first connections).
  if (warmup > 0) await run(url, method, warmup);
  return run(url, method, duration);
}

async function run(url: string, method: "GET" | "POST", seconds: number) {
  const result = await autocannon({
    url,
    method,
    headers: { "content-type": "application/json" },
    body: method === "POST" ? body : undefined,
    connections,
    duration: seconds,
  });
  if (result.non2xx + result.errors + result.timeouts > 0) {
    throw new Error(`${method} ${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  }
  return { rps: result.requests.average, p99: result.latency.p99 };
}

const line = (name: string, f: { rps: number; p99: number }) =>
  console.log(`${name.padEnd(18)} ${f.rps.toFixed(0).padStart(7)} req/s  p99 ${f.p99} ms`);

const median = (list: number[]) => {
  const sorted = [...list].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};
const listed = (list: number[]) =>
  `median ${median(list).toFixed(2)} of ${list.map((r) => r.toFixed(2)).join(", ")}`;

console.log(
  `${connections} connections, ${duration} s per run after ${warmup} s warm-up, ${rounds} rounds`,
);
const [bare] = await start("./bare-server.ts", 18_181);
const [build, hash] = await start("./build-server.ts", 18_182);
const postRatios: number[] = [];
const getRatios: number[] = [];
try {
  for (let round = 1; round <= rounds; round++) {
    console.log(`round ${round}`);
    const barePost = await load("http://127.0.0.1:18181/api/v1/build", "POST");
    line("  bare POST", barePost);
    const hitPost = await load("http://127.0.0.1:18182/api/v1/build", "POST");
    line("  cache-hit POST", hitPost);
    const bareGet = await load("http://127.0.0.1:18181/api/v1/build/x", "GET");
    line("  bare GET", bareGet);
    const hitGet = await load(`http://127.0.0.1:18182/api/v1/build/${hash}`, "GET");
    line("  status GET", hitGet);
    postRatios.push(hitPost.rps / barePost.rps);
    getRatios.push(hitGet.rps / bareGet.rps);
  }
} finally {
  bare.kill("SIGTERM");
  build.kill("SIGTERM");
}
console.log(`ratio POST: ${listed(postRatios)} (goal ≥ 0.5)`);
console.log(`ratio GET:  ${listed(getRatios)} (goal ≥ 0.5)`);
