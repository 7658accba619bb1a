import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningWorker } from "../packages/build-worker/src/worker.ts";
import { freeLoopbackPort } from "../services/server/src/private-redis.ts";
import {
  type AsuStack,
  ATH79_24_10_DOUBLE,
  postJson,
  startAsuStack,
  waitForBuild,
} from "./support/asu-stack.ts";
import { containersGone } from "./support/containers.ts";

/*
 * A Podman outage is not a verdict: the API service restarts while builds
 * are queued and running; the worker stops taking jobs, hands back the ones
 * it holds, says so in /health and /metrics, and every build finishes.
 */

const BASE = "localhost/asu-e2e-outage/imagebuilder";
let stack: AsuStack;
let worker: RunningWorker;
let metricsUrl: string;

beforeAll(async () => {
  stack = await startAsuStack({
    baseContainer: BASE,
    images: [ATH79_24_10_DOUBLE],
    env: { INFRA_RETRY_DELAY: "1s" },
  });
  worker = await stack.startWorker({
    worker_concurrency: 2,
    metrics_port: await freeLoopbackPort(),
    host: "127.0.0.1",
  });
  if (!worker.metricsUrl) throw new Error("worker metrics not served");
  metricsUrl = worker.metricsUrl;
}, 300_000);

afterAll(async () => {
  await stack?.stop();
}, 120_000);

async function metric(pattern: RegExp): Promise<string | undefined> {
  const text = await (await fetch(metricsUrl)).text();
  return pattern.exec(text)?.[1];
}
const podmanGauge = () => metric(/^asu_worker_podman_available(?:\{[^}]*\})? (\d+)/m);

describe("a Podman API outage", () => {
  it("hands builds back and finishes every one of them once Podman is back", async () => {
    // Slow builds, so some run while others wait when the API goes away.
    const hashes: string[] = [];
    for (const extra of ["htop", "curl", "tcpdump", "nano", "auc"]) {
      const posted = await postJson(`${stack.buildUrl}/api/v1/build`, {
        version: "24.10.0",
        target: "ath79/generic",
        profile: "tplink,archer-c7-v5",
        packages: ["slowpackage", extra],
      });
      expect(posted.status).toBe(202);
      hashes.push(posted.body.request_hash);
    }
    await expect
      .poll(
        async () => {
          const res = await fetch(`${stack.buildUrl}/api/v1/build/${hashes[0]}`);
          return ((await res.json()) as any).detail;
        },
        { timeout: 120_000, interval: 200 },
      )
      .toBe("started");
    expect(await podmanGauge()).toBe("1");

    // The API is away for a while; /health and the worker's metrics say so.
    const restart = stack.podman.restart(6_000);
    await expect
      .poll(
        async () => {
          const health = (await (await fetch(`${stack.buildUrl}/health`)).json()) as any;
          return health.builders;
        },
        { timeout: 30_000, interval: 200 },
      )
      .toBe("unavailable");
    expect(await podmanGauge()).toBe("0");
    const health = (await (await fetch(`${stack.buildUrl}/health`)).json()) as any;
    expect(health).toMatchObject({ status: "degraded", workers: { online: 1, unavailable: 1 } });
    await restart;

    // Back: the worker resumes by itself, and no build became a failure.
    for (const hash of hashes) {
      const done = await waitForBuild(stack.buildUrl, hash, 300_000);
      expect(done.status, JSON.stringify(done.body)).toBe(200);
    }
    expect(await podmanGauge()).toBe("1");
    // The builds running when the API went away were handed back, not failed.
    const requeued = await metric(
      /^asu_build_jobs_finished_total\{[^}]*outcome="requeued"[^}]*\} (\d+)/m,
    );
    expect(Number(requeued)).toBeGreaterThanOrEqual(1);
    const after = (await (await fetch(`${stack.buildUrl}/health`)).json()) as any;
    expect(after).toMatchObject({ status: "ok", builders: "available" });
    for (const hash of hashes) {
      expect(await containersGone(stack.docker, `asu.build=${hash}`, 30_000)).toEqual([]);
    }
  }, 600_000);
});
