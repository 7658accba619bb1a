/**
 * Benchmark (a): cache-hit POST /api/v1/build and status GET against a bare
 * Hono app answering a same-sized JSON body, measured in the same run.
 * Usage: pnpm bench:build-cache [-- --duration 10 --connections 50]
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
  },
});
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
  const result = await autocannon({
    url,
    method,
    headers: { "content-type": "application/json" },
    body: method === "POST" ? body : undefined,
    connections,
    duration,
  });
  if (result.non2xx + result.errors + result.timeouts > 0) {
    throw new Error(`${method} ${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  }
  return { rps: result.requests.average, p99: result.latency.p99 };
}

const line = (name: string, f: { rps: number; p99: number }) =>
  console.log(`${name.padEnd(16)} ${f.rps.toFixed(0).padStart(7)} req/s  p99 ${f.p99} ms`);

console.log(`${connections} connections, ${duration} s per run`);
const [bare] = await start("./bare-server.ts", 18_181);
const barePost = await load("http://127.0.0.1:18181/api/v1/build", "POST");
const bareGet = await load("http://127.0.0.1:18181/api/v1/build/x", "GET");
bare.kill("SIGTERM");
const [build, hash] = await start("./build-server.ts", 18_182);
const hitPost = await load("http://127.0.0.1:18182/api/v1/build", "POST");
const hitGet = await load(`http://127.0.0.1:18182/api/v1/build/${hash}`, "GET");
build.kill("SIGTERM");
line("bare POST", barePost);
line("cache-hit POST", hitPost);
line("bare GET", bareGet);
line("status GET", hitGet);
console.log(
  `ratio POST: ${(hitPost.rps / barePost.rps).toFixed(2)}  GET: ${(hitGet.rps / bareGet.rps).toFixed(2)} (goal ≥ 0.5)`,
);
