/**
 * Benchmark: cache-miss POST /api/v1/build with PACKAGE_CHECK off and on,
 * alternating runs, each against its own Redis.
 * Usage: pnpm bench:build-miss [-- --duration 10 --connections 20 --rounds 2]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { DEFAULT_BRANCHES } from "@asu/openwrt-releases";
import { checkAvailability } from "@asu/package-rules";
import { createMetadataClient, createPackageIndexes } from "@asu/upstream";
import autocannon from "autocannon";
import { startFakeUpstream } from "../../test/support/fake-upstream.ts";
import { publishBenchIndexes } from "./bench-indexes.ts";
import { request } from "./request.ts";

const { values } = parseArgs({
  // `pnpm bench:build-miss -- --duration 5` passes the `--` on.
  args: process.argv.slice(2).filter((arg) => arg !== "--"),
  options: {
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "20" },
    rounds: { type: "string", default: "2" },
  },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
const rounds = Number(values.rounds);

async function start(port: number, check: boolean): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL("./miss-server.ts", import.meta.url))],
    {
      env: { ...process.env, PORT: String(port), PACKAGE_CHECK: String(check) },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const [chunk] = (await once(child.stdout as NodeJS.ReadableStream, "data")) as [Buffer];
  if (!String(chunk).startsWith("ready")) throw new Error(`miss-server did not start: ${chunk}`);
  return child;
}

async function stop(child: ChildProcess) {
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  await exited;
}

let counter = 0;
async function load(port: number) {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/api/v1/build`,
    method: "POST",
    headers: { "content-type": "application/json" },
    connections,
    duration,
    requests: [
      {
        // A new version_code per request: a new hash, so never a cache hit.
        setupRequest: (req: any) => ({
          ...req,
          body: JSON.stringify({ ...request, version_code: `r${++counter}-bench` }),
        }),
      },
    ],
  });
  if (result.non2xx + result.errors + result.timeouts > 0) {
    throw new Error(
      `${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`,
    );
  }
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

const runs: Record<"off" | "on", { rps: number; p50: number; p99: number }[]> = { off: [], on: [] };
console.log(`${connections} connections, ${duration} s per run, ${rounds} rounds`);
let port = 18_190;
for (let round = 0; round < rounds; round++) {
  for (const check of [false, true]) {
    const child = await start(++port, check);
    try {
      const figures = await load(port);
      runs[check ? "on" : "off"].push(figures);
      console.log(
        `check ${check ? "on " : "off"}  ${figures.rps.toFixed(0).padStart(6)} req/s  p50 ${figures.p50} ms  p99 ${figures.p99} ms`,
      );
    } finally {
      await stop(child);
    }
  }
}
const mean = (list: { rps: number }[]) => list.reduce((sum, f) => sum + f.rps, 0) / list.length;
const off = mean(runs.off);
const on = mean(runs.on);
console.log(
  `cache-miss POST: ${off.toFixed(0)} req/s without the check, ${on.toFixed(0)} with it; cost ${(((off - on) / off) * 100).toFixed(1)}% (goal ≤ 10%)`,
);

// The check alone, in this process, with warm caches: what it adds to every cache-miss POST.
const upstream = await startFakeUpstream();
publishBenchIndexes(upstream);
const indexes = createPackageIndexes({
  client: createMetadataClient({ upstreamUrl: upstream.url }),
  branches: DEFAULT_BRANCHES,
});
const input = {
  version: "24.10.0",
  target: "ath79/generic",
  architecture: "mips_24kc",
  metadata: {
    linux_kernel: { version: "6.6.73", release: "1", vermagic: "2974fbe1fa59be88f13eb8abeac8c10b" },
  },
};
await indexes.search(input);
const iterations = 5000;
const began = performance.now();
for (let i = 0; i < iterations; i++) {
  checkAvailability(request.packages, await indexes.search(input));
}
const perCheck = ((performance.now() - began) / iterations) * 1000;
await upstream.close();
const medianOff =
  runs.off.map((f) => f.p50).sort((a, b) => a - b)[Math.floor(runs.off.length / 2)] ?? 0;
console.log(
  `the check alone: ${perCheck.toFixed(1)} µs per request (${((perCheck / 1000 / Math.max(medianOff, 1e-9)) * 100).toFixed(2)}% of the median cache-miss POST latency without it, ${medianOff} ms)`,
);
