import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requestHash } from "@asu/contract";
import { type ApiApp, createApiApp } from "@asu/http";
import { type BuildQueue, type BuildResult, recordExpiry } from "@asu/queue";
import { createLocalStore } from "@asu/store";
import { UnrecoverableError } from "bullmq";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import {
  ARCHER,
  BUILD_ROUTE_SETTINGS,
  type BuildRouteStand,
  buildRouteDeps,
  callJson,
  startBuildRouteStand,
} from "../../../test/support/build-route-stand.ts";
import { type ServedApp, serveApp } from "../../../test/support/serve-app.ts";
import { silentLogger } from "../../../test/support/silent-logger.ts";
import { uploadThenRead } from "../../../test/support/upload-then-read.ts";
import { registerBuildRoutes } from "./build-routes.ts";
import { startJanitor } from "./janitor.ts";

const silent = silentLogger("build-test");
const settings = {
  ...BUILD_ROUTE_SETTINGS,
  build_ttl: 604_800,
  build_ttl_unversioned: 86_400,
  build_defaults_ttl: 1800,
  max_pending_jobs: 3,
};
const archer = { ...ARCHER, packages: ["luci", "auc"] };

let stand: BuildRouteStand;
let redis: Redis;
let queue: BuildQueue;
let served: ServedApp;
let app: ApiApp;
let publicPath: string;

beforeAll(async () => {
  stand = await startBuildRouteStand();
  ({ redis, queue } = stand);
  publicPath = await mkdtemp(join(tmpdir(), "asu-build-"));
});

// A fresh tier per test: it keeps finished answers in memory, and each test
// starts from an empty Redis.
beforeEach(async () => {
  await redis.flushdb();
  app = createApiApp({ title: "build", version: "0", logger: silent });
  registerBuildRoutes(app, buildRouteDeps(stand, settings));
  served = await serveApp(app);
});

afterEach(async () => {
  await stand.closeWorkers();
  await served?.close();
});

afterAll(async () => {
  await stand?.stop();
  if (publicPath) await rm(publicPath, { recursive: true, force: true });
});

const call = (method: string, path: string, body?: unknown) =>
  callJson(served.url, method, path, body);

/** A BullMQ worker on the real queue with a processor the test controls. */
const worker = (processor: (job: any) => Promise<BuildResult>) => stand.worker(processor);

const SETTLED = { timeout: 10_000, interval: 50 };

describe("POST /api/v1/build", () => {
  it("queues a valid request under the hash of the request as built", async () => {
    const { status, body, res } = await call("POST", "/api/v1/build", {
      ...archer,
      profile: "tplink,archer-c7-v5",
    });
    expect(status).toBe(202);
    expect(body).toMatchObject({
      status: 202,
      detail: "queued",
      queue_position: 0,
      imagebuilder_status: "queued",
    });
    expect(body.request.profile).toBe("tplink_archer-c7-v5");
    expect(body.request_hash).toBe(requestHash(body.request));
    expect(new Date(body.enqueued_at).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(res.headers.get("x-imagebuilder-status")).toBe("queued");
    expect(res.headers.get("x-queue-position")).toBe("0");
    expect(res.headers.get("access-control-allow-origin")).toBe("*");

    const job = await queue.queue.getJob(body.request_hash);
    expect(job?.data).toMatchObject({
      requestHash: body.request_hash,
      packages: ["luci", "owut"],
      image: "ghcr.io/openwrt/imagebuilder:ath79-generic-v24.10.0",
      versionPath: "releases/24.10.0",
      snapshot: false,
      resultTtl: 86_400,
      failureTtl: 3600,
    });
  });

  it("makes one job for 50 concurrent identical requests", async () => {
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => call("POST", "/api/v1/build", archer)),
    );
    const hashes = new Set(answers.map((answer) => answer.body.request_hash));
    expect(answers.every((answer) => answer.status === 202)).toBe(true);
    expect(hashes.size).toBe(1);
    expect(await queue.queue.getJobCounts("prioritized", "active", "completed")).toMatchObject({
      prioritized: 1,
      active: 0,
      completed: 0,
    });
  });

  it("reports queue positions in order", async () => {
    const positions = [];
    for (const extra of ["a", "b", "c"]) {
      const { body } = await call("POST", "/api/v1/build", {
        ...archer,
        packages: [...archer.packages, extra],
      });
      positions.push(body.queue_position);
    }
    expect(positions).toEqual([0, 1, 2]);
    const { body } = await call("POST", "/api/v1/build", {
      ...archer,
      packages: [...archer.packages, "a"],
    });
    expect(body.queue_position).toBe(0);
  });

  it("answers 529 when another build would make more than MAX_PENDING_JOBS wait", async () => {
    for (const extra of ["a", "b", "c"]) {
      const { status } = await call("POST", "/api/v1/build", {
        ...archer,
        packages: [extra],
      });
      expect(status).toBe(202);
    }
    const { status, body } = await call("POST", "/api/v1/build", { ...archer, packages: ["e"] });
    expect(status).toBe(529);
    expect(body).toEqual({
      status: 529,
      title: "Server overloaded",
      detail: "server overload, queue contains too many build requests: 3",
    });
    // A build already known is still answered.
    expect((await call("POST", "/api/v1/build", { ...archer, packages: ["a"] })).status).toBe(202);
  });

  it("uses a distinct hash with skip_package_resolution", async () => {
    const plain = await call("POST", "/api/v1/build", archer);
    const skipped = await call("POST", "/api/v1/build?skip_package_resolution=true", archer);
    expect(skipped.status).toBe(202);
    expect(skipped.body.request_hash).not.toBe(plain.body.request_hash);
    expect(skipped.body.request_hash).toBe(
      requestHash(skipped.body.request, { skipPackageResolution: true }),
    );
    // The job carries the packages to build, resolved once here: as sent
    // when skipped, else with the package rules applied (auc became owut).
    const job = await queue.queue.getJob(skipped.body.request_hash);
    expect(job?.data.packages).toEqual(["luci", "auc"]);
    const resolved = await queue.queue.getJob(plain.body.request_hash);
    expect(resolved?.data.packages).toEqual(["luci", "owut"]);
  });

  it("refuses a skip_package_resolution that is not a boolean", async () => {
    const { status, body } = await call(
      "POST",
      "/api/v1/build?skip_package_resolution=maybe",
      archer,
    );
    expect(status).toBe(422);
    expect(body.detail[0]).toMatchObject({
      type: "bool_parsing",
      loc: ["query", "skip_package_resolution"],
    });
  });

  it("answers validation failures with 400 and schema failures with 422", async () => {
    const bad = await call("POST", "/api/v1/build", { ...archer, version: "24.10.99" });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ detail: "Unsupported version: 24.10.99", status: 400 });
    const schema = await call("POST", "/api/v1/build", { ...archer, packages: "luci" });
    expect(schema.status).toBe(422);
    const broken = await call("POST", "/api/v1/build", "{nope");
    expect(broken.status).toBe(422);
    expect(await queue.queue.getJobCounts("waiting")).toMatchObject({ waiting: 0 });
  });

  it.each([
    ["with a Content-Length", false],
    ["chunked", true],
  ])(
    "a client that sends a whole 2.6 MB body before reading sees the 413 (%s)",
    async (_, chunked) => {
      const body = Buffer.from(
        JSON.stringify({ ...archer, packages: Array(120_000).fill("p".repeat(20)) }),
      );
      expect(body.length).toBeGreaterThan(2_600_000);
      // Spread out as on a slow uplink: the server must still be reading.
      const answer = await uploadThenRead(`${served.url}/api/v1/build`, body, {
        seconds: 0.5,
        chunked,
      });
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body).detail).toBe("Request body is larger than 1048576 bytes");
      expect(await queue.waitingCount()).toBe(0);
    },
  );

  it("stores results with the contract's TTL", async () => {
    const pinned = await call("POST", "/api/v1/build", {
      ...archer,
      packages_versions: { luci: "1.0" },
    });
    expect((await queue.queue.getJob(pinned.body.request_hash))?.data.resultTtl).toBe(604_800);
  });
});

describe("GET and HEAD /api/v1/build/{hash}", () => {
  it("answers 404 for an unknown hash", async () => {
    for (const path of [`/api/v1/build/${"0".repeat(64)}`, "/api/v1/build/nonsense"]) {
      const { status, body } = await call("GET", path);
      expect(status).toBe(404);
      expect(body).toEqual({
        status: 404,
        title: "Not Found",
        detail: "could not find provided request hash",
      });
    }
  });

  it("shows a build queued, started with its stage, then done with its result", async () => {
    const { body } = await call("POST", "/api/v1/build", archer);
    const hash = body.request_hash;
    expect((await call("GET", `/api/v1/build/${hash}`)).body.detail).toBe("queued");

    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    worker(async (job) => {
      await job.updateProgress({ imagebuilder_status: "validate_manifest" });
      await gate;
      return {
        bin_dir: hash,
        manifest: { luci: "25.0" },
        images: [{ name: "fw.bin", type: "sysupgrade", sha256: "ab" }],
        id: "tplink_archer-c7-v5",
      };
    });

    // A taken job shows "init" until the worker reports its first stage.
    const started = await vi.waitFor(async () => {
      const answer = await call("GET", `/api/v1/build/${hash}`);
      expect(answer.body.imagebuilder_status).toBe("validate_manifest");
      return answer;
    }, SETTLED);
    expect(started.body.detail).toBe("started");
    expect(started.status).toBe(202);
    expect(started.body.imagebuilder_status).toBe("validate_manifest");
    expect(started.res.headers.get("x-imagebuilder-status")).toBe("validate_manifest");

    release();
    const done = await vi.waitFor(async () => {
      const answer = await call("GET", `/api/v1/build/${hash}`);
      expect(answer.status).toBe(200);
      return answer;
    }, SETTLED);
    expect(done.body).toMatchObject({
      status: 200,
      detail: "done",
      imagebuilder_status: "done",
      bin_dir: hash,
      request_hash: hash,
      manifest: { luci: "25.0" },
      id: "tplink_archer-c7-v5",
    });
    expect(done.body.request.profile).toBe("tplink_archer-c7-v5");

    const head = await fetch(`${served.url}/api/v1/build/${hash}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("x-imagebuilder-status")).toBe("done");
    expect(await head.text()).toBe("");

    // The same request again is a cache hit: answered at once with the result.
    const again = await call("POST", "/api/v1/build", archer);
    expect(again.status).toBe(200);
    expect(again.body.bin_dir).toBe(hash);
  });

  it("shows a failure with detail, stdout and stderr", async () => {
    const { body } = await call("POST", "/api/v1/build", archer);
    worker(async (job) => {
      const detail = "Error: Impossible package selection: missing (nope)";
      await job.updateProgress({
        imagebuilder_status: "failed",
        detail,
        stdout: "out",
        stderr: " * opkg_install_cmd: Cannot install package nope.",
      });
      throw new Error(detail);
    });
    const failed = await vi.waitFor(async () => {
      const answer = await call("GET", `/api/v1/build/${body.request_hash}`);
      expect(answer.status).toBe(500);
      return answer;
    }, SETTLED);
    expect(failed.body).toMatchObject({
      status: 500,
      detail: "Error: Impossible package selection: missing (nope)",
      stdout: "out",
      stderr: " * opkg_install_cmd: Cannot install package nope.",
    });
    expect(failed.res.headers.get("x-imagebuilder-status")).toBe("failed");
  });

  it("forgets expired results and builds them again, removing their files", async () => {
    const { body } = await call("POST", "/api/v1/build", archer);
    const hash = body.request_hash;
    await (await queue.queue.getJob(hash))?.updateData({
      ...(await queue.queue.getJob(hash))!.data,
      resultTtl: 1,
    });
    worker(async () => ({ bin_dir: hash, manifest: {} }));
    await expect.poll(async () => (await call("GET", `/api/v1/build/${hash}`)).status).toBe(200);
    const store = createLocalStore(publicPath);
    await mkdir(join(store.root, hash), { recursive: true });
    await writeFile(join(store.root, hash, "fw.bin"), "x");
    // As the worker does: the result expires resultTtl after the build finished.
    const finishedOn = (await queue.queue.getJob(hash))?.finishedOn;
    if (finishedOn === undefined) throw new Error("the build has not finished");
    await recordExpiry(redis, hash, finishedOn, 1);

    await expect.poll(async () => (await call("GET", `/api/v1/build/${hash}`)).status).toBe(404);

    const janitor = startJanitor({
      redis,
      queue,
      store,
      failureTtlSeconds: 3600,
      logger: silent,
      intervalMs: 3_600_000,
    });
    expect(await janitor.runOnce()).toEqual([hash]);
    janitor.stop();
    await expect(stat(join(store.root, hash))).rejects.toThrow();
    expect(await queue.queue.getJob(hash)).toBeUndefined();

    await stand.closeWorkers();
    const again = await call("POST", "/api/v1/build", archer);
    expect(again.status).toBe(202);
    expect(again.body.detail).toBe("queued");
  });
});

describe("GET /api/v1/stats", () => {
  it("counts waiting builds", async () => {
    await call("POST", "/api/v1/build", archer);
    await call("POST", "/api/v1/build", { ...archer, packages: ["x"] });
    expect((await call("GET", "/api/v1/stats")).body).toEqual({
      queue_length: 2,
      popular_requests: [],
    });
  });
});

describe("failures of ours", () => {
  /** A second build-tier replica on the same queue, with its own in-memory answers. */
  async function replica(extra: Partial<typeof settings> & Record<string, unknown> = {}) {
    const other = createApiApp({ title: "build", version: "0", logger: silent });
    registerBuildRoutes(other, buildRouteDeps(stand, { ...settings, ...extra }));
    return serveApp(other);
  }
  async function get(url: string, hash: string) {
    const res = await fetch(`${url}/api/v1/build/${hash}`);
    return { status: res.status, body: (await res.json()) as any };
  }
  async function post(url: string, body: unknown) {
    const res = await fetch(`${url}/api/v1/build`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  }

  it("are retried, then seen by polls, and replaced by a new POST on every replica", async () => {
    const a = await replica({ infra_retries: 1, infra_retry_delay: 0 });
    const b = await replica({ infra_retries: 1, infra_retry_delay: 0 });
    try {
      let healthy = false;
      const attempts: number[] = [];
      const consumer = worker(async (job) => {
        attempts.push(job.attemptsMade);
        if (healthy) return { bin_dir: job.data.requestHash, manifest: {}, images: [] };
        if (job.attemptsMade + 1 < job.opts.attempts) throw new Error("Error: registry hiccup");
        await job.updateProgress({
          imagebuilder_status: "failed",
          detail: "Error: registry hiccup",
          failure_kind: "infrastructure",
        });
        throw new Error("Error: registry hiccup");
      });
      const queued = await post(a.url, archer);
      expect(queued.status).toBe(202);
      const hash = queued.body.request_hash;
      const failed = await vi.waitFor(async () => {
        const answer = await get(b.url, hash);
        expect(answer.status).toBe(500);
        return answer;
      }, SETTLED);
      expect(attempts).toEqual([0, 1]);
      expect(failed.body).toMatchObject({
        detail: "Error: registry hiccup",
        failure_kind: "infrastructure",
      });
      // Both replicas answered the failure to polls.
      expect((await get(a.url, hash)).status).toBe(500);

      healthy = true;
      await consumer.pause();
      const again = await post(a.url, archer);
      expect(again.status).toBe(202);
      expect(again.body).toMatchObject({ request_hash: hash, detail: "queued" });
      consumer.resume();
      // Replica b never kept the failure: it sees the new build's result.
      const built = await vi.waitFor(async () => {
        const answer = await get(b.url, hash);
        expect(answer.status).toBe(200);
        return answer;
      }, SETTLED);
      expect(built.body.bin_dir).toBe(hash);
      expect((await post(b.url, archer)).status).toBe(200);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("a request's own failure is not retried and is the answer to a new POST", async () => {
    const a = await replica({ infra_retries: 2, infra_retry_delay: 0 });
    try {
      const attempts: number[] = [];
      worker(async (job) => {
        attempts.push(job.attemptsMade);
        const detail = "Error: Impossible package selection: missing (nosuch)";
        await job.updateProgress({
          imagebuilder_status: "failed",
          detail,
          failure_kind: "request",
        });
        throw new UnrecoverableError(detail);
      });
      const queued = await post(a.url, archer);
      const hash = queued.body.request_hash;
      const failed = await vi.waitFor(async () => {
        const answer = await get(a.url, hash);
        expect(answer.status).toBe(500);
        return answer;
      }, SETTLED);
      expect(failed.body.failure_kind).toBe("request");
      const again = await post(a.url, archer);
      expect(again.status).toBe(500);
      expect(again.body.failure_kind).toBe("request");
      expect(attempts).toEqual([0]);
    } finally {
      await a.close();
    }
  });
});
