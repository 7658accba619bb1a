import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUILD_LABEL } from "../packages/build-worker/src/build-container.ts";
import { listBuildContainers } from "../packages/build-worker/src/imagebuilder-session.ts";
import type { RunningWorker } from "../packages/build-worker/src/worker.ts";
import {
  type AsuStack,
  ATH79_24_10_DOUBLE,
  postJson,
  startAsuStack,
  waitForBuild,
} from "./support/asu-stack.ts";
import { containersGone, execInContainer } from "./support/containers.ts";

/*
 * The build sandbox over real HTTP: a worker with small limits, and
 * test-double builds that go past each of them (the double's limit markers,
 * test/imagebuilder-double/make). Each must fail with a detail naming the
 * limit, leave nothing in the store, and have cost no more than the limit.
 */

const BASE = "localhost/asu-e2e-sandbox/imagebuilder";
const archer = { version: "24.10.0", target: "ath79/generic", profile: "tplink,archer-c7-v5" };
const MEMORY_MB = 96;
const DISK_MB = 64;
const PIDS = 48;

let stack: AsuStack;
let worker: RunningWorker;

beforeAll(async () => {
  stack = await startAsuStack({
    baseContainer: BASE,
    images: [ATH79_24_10_DOUBLE],
    env: {
      BUILD_MEMORY: `${MEMORY_MB}m`,
      BUILD_CPUS: "0.5",
      BUILD_DISK_MB: String(DISK_MB),
      BUILD_OUTPUT_MAX_MB: "1",
      BUILD_PIDS_LIMIT: String(PIDS),
      WORKER_CONCURRENCY: "3",
      // Running out is ours (infrastructure): shown at the first failure, not retried.
      INFRA_RETRIES: "0",
    },
  });
  worker = await stack.startWorker();
}, 300_000);

afterAll(async () => {
  await stack?.stop();
}, 120_000);

async function buildWith(packages: string[]) {
  const queued = await postJson(`${stack.buildUrl}/api/v1/build?skip_package_resolution=true`, {
    ...archer,
    packages,
  });
  expect(queued.status, JSON.stringify(queued.body)).toBe(202);
  const hash: string = queued.body.request_hash;
  const done = await waitForBuild(stack.buildUrl, hash, 150_000);
  return { hash, ...done };
}

async function expectNothingLeft(hash: string) {
  expect(await containersGone(stack.docker, `${BUILD_LABEL}=${hash}`)).toEqual([]);
  expect(existsSync(join(stack.publicPath, "store", hash))).toBe(false);
  const store = existsSync(join(stack.publicPath, "store"))
    ? await readdir(join(stack.publicPath, "store"))
    : [];
  expect(store.filter((name) => name.includes(hash))).toEqual([]);
}

describe("the build sandbox", () => {
  it.concurrent("runs a build within the limits in a read-only, bounded container", async ({
    expect,
  }) => {
    const queued = await postJson(`${stack.buildUrl}/api/v1/build?skip_package_resolution=true`, {
      ...archer,
      packages: ["luci", "slowpackage"],
    });
    const hash: string = queued.body.request_hash;
    let container: Docker.ContainerInfo | undefined;
    await expect
      .poll(
        async () => {
          [container] = (await listBuildContainers(stack.docker, hash)).filter(
            (info) => info.State === "running",
          );
          return container;
        },
        { timeout: 60_000, interval: 100 },
      )
      .toBeDefined();
    const id = (container as Docker.ContainerInfo).Id;
    const { HostConfig } = await stack.docker.getContainer(id).inspect();
    expect(HostConfig, JSON.stringify(HostConfig)).toMatchObject({
      ReadonlyRootfs: true,
      Memory: MEMORY_MB * 1024 * 1024,
      MemorySwap: MEMORY_MB * 1024 * 1024,
      NanoCpus: 500_000_000,
      PidsLimit: PIDS,
      CapAdd: [],
      CapDrop: expect.arrayContaining(["CHOWN", "DAC_OVERRIDE", "SETUID"]),
    });
    // The kernel enforces them (cgroup v1 here; v2 names the files differently).
    const { stdout: seen } = await execInContainer(stack.docker, stack.docker.getContainer(id), [
      "sh",
      "-c",
      [
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null",
        "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null",
        "touch /usr/bin/planted 2>&1",
        "df -m /builder /tmp /var/tmp /run | awk 'NR > 1 { print $6, $2 }'",
      ].join("; "),
    ]);
    expect(seen).toContain(String(MEMORY_MB * 1024 * 1024));
    expect(seen).toMatch(new RegExp(`^${PIDS}$`, "m"));
    expect(seen).toContain("Read-only file system");
    expect(seen).toMatch(new RegExp(`^/builder ${DISK_MB}$`, "m"));
    expect(seen).toMatch(/^\/tmp 16$/m);
    expect(seen).toMatch(/^\/var\/tmp 16$/m);
    expect(seen).toMatch(/^\/run 16$/m);

    const done = await waitForBuild(stack.buildUrl, hash, 150_000);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    const image = done.body.images.find((entry: any) => entry.type === "sysupgrade");
    const res = await fetch(`${stack.buildUrl}/store/${hash}/${image.name}`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  }, 200_000);

  it.concurrent("BUILD_OUTPUT_MAX_MB: a larger output fails and is not stored", async () => {
    const { hash, status, body } = await buildWith(["luci", "bigoutput"]);
    expect(status).toBe(500);
    expect(body.detail).toBe(
      "Error: The build's output is larger than this server's limit of 1 MB",
    );
    await expectNothingLeft(hash);
  }, 200_000);

  it.concurrent("BUILD_DISK_MB: a build filling /builder stops at its size", async () => {
    const { hash, status, body } = await buildWith(["luci", "fillbuilder"]);
    expect(status).toBe(500);
    expect(body.detail, body.stderr).toBe(
      `Error: The build ran out of its ${DISK_MB} MB of disk space`,
    );
    expect(body.stderr).toContain("No space left on device");
    expect(body.failure_kind).toBe("infrastructure");
    await expectNothingLeft(hash);
  }, 200_000);

  it.concurrent("a full /builder under a `make image` that exits 0 is ours, not cached", async () => {
    const { hash, status, body } = await buildWith(["luci", "fullbuilder"]);
    expect(status).toBe(500);
    expect(body, body.stderr).toMatchObject({
      detail: `Error: The build ran out of its ${DISK_MB} MB of disk space`,
      failure_kind: "infrastructure",
    });
    expect(body.detail).not.toBe("Error: No JSON file found");
    expect(body.stderr).toContain("No space left on device");
    await expectNothingLeft(hash);
    // No verdict kept: the same request asked again is built afresh.
    const again = await postJson(`${stack.buildUrl}/api/v1/build?skip_package_resolution=true`, {
      ...archer,
      packages: ["luci", "fullbuilder"],
    });
    expect(again.body.request_hash).toBe(hash);
    expect(again.status, JSON.stringify(again.body)).toBe(202);
    expect((await waitForBuild(stack.buildUrl, hash, 150_000)).body.failure_kind).toBe(
      "infrastructure",
    );
  }, 200_000);

  it.concurrent("BUILD_MEMORY: a build allocating past it is killed", async () => {
    const { hash, status, body } = await buildWith(["luci", "memoryhog"]);
    expect(status).toBe(500);
    expect(body.detail).toBe(
      `Error: The build was killed: it used more than this server's memory limit of ${MEMORY_MB} MB`,
    );
    expect(body.failure_kind).toBe("infrastructure");
    await expectNothingLeft(hash);
  }, 200_000);

  it.concurrent("BUILD_PIDS_LIMIT: a build starting more processes cannot fork", async () => {
    const { hash, status, body } = await buildWith(["luci", "forkbomb"]);
    expect(status).toBe(500);
    expect(body.detail).toBe(
      `Error: The build tried to run more than this server's limit of ${PIDS} processes`,
    );
    expect(body.stderr).toMatch(/can't fork/);
    expect(body.failure_kind).toBe("infrastructure");
    await expectNothingLeft(hash);
  }, 200_000);

  it("the worker still builds after all of them", async () => {
    expect(worker.worker.isRunning()).toBe(true);
    const { status, body } = await buildWith(["luci", "tcpdump"]);
    expect(status, JSON.stringify(body)).toBe(200);
  }, 200_000);
});
