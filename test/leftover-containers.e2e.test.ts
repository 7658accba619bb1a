import { randomBytes } from "node:crypto";
import { queueInstanceId } from "@asu/queue";
import type Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  BUILD_LABEL,
  QUEUE_LABEL,
  WARM_BUILD,
  WORKER_LABEL,
} from "../packages/build-worker/src/build-container.ts";
import { type RunningWorker, startWorker } from "../packages/build-worker/src/worker.ts";
import {
  type AsuStack,
  ATH79_24_10_DOUBLE,
  postJson,
  startAsuStack,
  waitForBuild,
} from "./support/asu-stack.ts";
import { imagebuilderDoubleRef } from "./support/imagebuilder-double.ts";

/*
 * Build containers left behind by a worker that died or lost Podman
 * mid-build: any worker of the same queue removes them, whatever its
 * WORKER_ID, at start and periodically, and never a running build's.
 */

const BASE = "localhost/asu-e2e-leftovers/imagebuilder";
const archer = { version: "24.10.0", target: "ath79/generic", profile: "tplink,archer-c7-v5" };

let stack: AsuStack;
let queueId: string;
const made: Docker.Container[] = [];
const workers: RunningWorker[] = [];

beforeAll(async () => {
  stack = await startAsuStack({ baseContainer: BASE, images: [ATH79_24_10_DOUBLE] });
  const redis = stack.redis.client();
  queueId = await queueInstanceId(redis);
}, 300_000);

afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.close()));
  await Promise.all(made.map((container) => container.remove({ force: true }).catch(() => {})));
  await stack?.stop();
}, 120_000);

/** A build container as a worker that died mid-build leaves it: labelled, running. */
async function leftover(
  queue: string,
  hash = randomBytes(32).toString("hex"),
  worker = "worker-that-died",
) {
  const container = await stack.docker.createContainer({
    Image: imagebuilderDoubleRef({ ...ATH79_24_10_DOUBLE, baseContainer: BASE }),
    Cmd: ["sleep", "300"],
    Labels: { [BUILD_LABEL]: hash, [WORKER_LABEL]: worker, [QUEUE_LABEL]: queue },
  });
  made.push(container);
  await container.start();
  return container;
}

async function exists(container: Docker.Container): Promise<boolean> {
  try {
    await container.inspect();
    return true;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return false;
    throw error;
  }
}

async function sweeper(): Promise<RunningWorker> {
  const worker = await startWorker({
    config: stack.config,
    workerId: `sweeper-${randomBytes(3).toString("hex")}`,
    leftoverSweepMs: 300,
  });
  workers.push(worker);
  return worker;
}

describe("leftover build containers", () => {
  it("another worker removes those whose job runs nowhere, at start and then periodically", async () => {
    const before = await leftover(queueId);
    const otherQueue = await leftover(`other-${randomBytes(3).toString("hex")}`);
    await sweeper();
    expect(await exists(before)).toBe(false);

    const after = await leftover(queueId);
    await expect.poll(() => exists(after), { timeout: 30_000, interval: 100 }).toBe(false);
    // Another ASU (or test) on the same Podman: its jobs are not ours to judge.
    expect(await exists(otherQueue)).toBe(true);
  }, 180_000);

  it("removes the idle warm containers of a worker no longer online, not an online one's", async () => {
    const online = await sweeper();
    const dead = await leftover(queueId, WARM_BUILD);
    const live = await leftover(queueId, WARM_BUILD, online.id);
    await sweeper();
    await expect.poll(() => exists(dead), { timeout: 30_000, interval: 100 }).toBe(false);
    expect(await exists(live)).toBe(true);
  }, 180_000);

  it("never removes a running build's container", async () => {
    // It only sweeps: the build runs on the other worker.
    await (await sweeper()).worker.pause(true);
    const builder = await stack.startWorker();
    workers.push(builder);
    const queued = await postJson(`${stack.buildUrl}/api/v1/build?skip_package_resolution=true`, {
      ...archer,
      packages: ["luci", "slowpackage"],
    });
    const hash: string = queued.body.request_hash;
    const seen = new Set<string>();
    // The build takes two slow steps (about 10 s); the sweeper looks every 0.3 s.
    // Sampled at every poll until the build is over.
    const done = await vi.waitFor(
      async () => {
        const containers = await stack.docker.listContainers({
          all: true,
          filters: { label: [`${BUILD_LABEL}=${hash}`] },
        });
        for (const info of containers) seen.add(info.Id);
        const res = await fetch(`${stack.buildUrl}/api/v1/build/${hash}`);
        const body = (await res.json()) as any;
        expect(res.status).not.toBe(202);
        return { status: res.status, body };
      },
      { timeout: 80_000, interval: 200 },
    );
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    // One container all along: the build was never cut short and restarted.
    expect(seen.size).toBe(1);
    const again = await waitForBuild(stack.buildUrl, hash);
    expect(again.status).toBe(200);
  }, 200_000);
});
