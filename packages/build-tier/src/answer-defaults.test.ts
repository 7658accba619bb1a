import { createHash } from "node:crypto";
import { type ApiApp, createApiApp } from "@asu/http";
import { readRefusedBuild, storeRefusedBuild } from "@asu/queue";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { bareJobData } from "../../../packages/queue/src/fixtures/job-data.ts";
import {
  ARCHER,
  BUILD_ROUTE_SETTINGS,
  type BuildRouteStand,
  buildRouteDeps,
  startBuildRouteStand,
} from "../../../test/support/build-route-stand.ts";
import { type ServedApp, serveApp } from "../../../test/support/serve-app.ts";
import { silentLogger } from "../../../test/support/silent-logger.ts";
import { answerRequest, buildAnswer } from "./build-answer.ts";
import { registerBuildRoutes } from "./build-routes.ts";

/*
 * A first-boot script holds Wi-Fi keys and root passwords, and anyone who
 * knows a hash may poll it: no answer carries it back, at any state, from
 * Redis or from the finished answers kept in memory. Real Redis, real HTTP,
 * a BullMQ worker the test drives.
 */

const SECRET = "hunter2-wifi-psk";
const script = (secret: string) => `#!/bin/sh\nuci set wireless.default_radio0.key='${secret}'\n`;
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

let stand: BuildRouteStand;
let redis: Redis;
let served: ServedApp;
let app: ApiApp;

beforeAll(async () => {
  stand = await startBuildRouteStand();
  ({ redis } = stand);
  await redis.flushdb();
  app = createApiApp({ title: "build", version: "0", logger: silentLogger("defaults-test") });
  registerBuildRoutes(
    app,
    buildRouteDeps(stand, { ...BUILD_ROUTE_SETTINGS, allow_defaults: true }),
  );
  served = await serveApp(app);
});

afterAll(async () => {
  await served?.close();
  await stand?.stop();
});

/** One answer, as text: whatever it holds, the secret must not be in it. */
async function call(method: string, path: string, secret: string, body?: unknown) {
  const res = await fetch(`${served.url}${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  expect(text).not.toContain(secret);
  expect(JSON.stringify([...res.headers])).not.toContain(secret);
  const parsed = text ? JSON.parse(text) : undefined;
  if (parsed) {
    expect(parsed.request).not.toHaveProperty("defaults");
    expect(parsed.request.defaults_sha256).toBe(sha256(script(secret)));
  }
  return { status: res.status, body: parsed };
}

describe("no answer carries the first-boot script", () => {
  it("answers a build queued, running, done and kept in memory with its hash only", async () => {
    const request = { ...ARCHER, defaults: script(SECRET) };
    const posted = await call("POST", "/api/v1/build", SECRET, request);
    expect(posted.status).toBe(202);
    const hash = posted.body.request_hash as string;
    // The script still makes the request hash: the same request without it is another build.
    const bare = await fetch(`${served.url}/api/v1/build`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(ARCHER),
    });
    const bareBody = (await bare.json()) as { request_hash: string; request: object };
    expect(bareBody.request_hash).not.toBe(hash);
    expect(bareBody.request).not.toHaveProperty("defaults_sha256");
    expect((await call("GET", `/api/v1/build/${hash}`, SECRET)).body.detail).toBe("queued");

    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const delivered: string[] = [];
    stand.worker(async (job) => {
      // The worker still gets the script: only answers drop it.
      delivered.push(String(job.data.request.defaults ?? ""));
      if (job.data.requestHash !== hash) {
        return { bin_dir: job.data.requestHash, manifest: {}, images: [] };
      }
      await job.updateProgress({ imagebuilder_status: "building_image" });
      await gate;
      return { bin_dir: hash, manifest: {}, images: [] };
    });
    await vi.waitFor(async () => {
      const running = await call("GET", `/api/v1/build/${hash}`, SECRET);
      expect(running.body.imagebuilder_status).toBe("building_image");
    });
    expect(delivered).toContain(script(SECRET));

    release();
    await vi.waitFor(async () => {
      expect((await call("GET", `/api/v1/build/${hash}`, SECRET)).status).toBe(200);
    });
    // Kept in memory once answered: with Redis emptied, the answer can only come from there.
    await redis.flushdb();
    const kept = await call("GET", `/api/v1/build/${hash}`, SECRET);
    expect(kept.status).toBe(200);
    expect((await call("POST", "/api/v1/build", SECRET, request)).status).toBe(200);
    await stand.closeWorkers();
  });

  it("answers a failed build with its hash only", async () => {
    const secret = "another-root-password";
    const posted = await call("POST", "/api/v1/build", secret, {
      ...ARCHER,
      defaults: script(secret),
    });
    stand.worker(async (job) => {
      await job.updateProgress({ imagebuilder_status: "failed", detail: "Error: Build failed" });
      throw new Error("Error: Build failed");
    });
    await vi.waitFor(async () => {
      const failed = await call("GET", `/api/v1/build/${posted.body.request_hash}`, secret);
      expect(failed.status).toBe(500);
    });
    await stand.closeWorkers();
  });

  it("answers a build refused before the queue with its hash only", async () => {
    const data = bareJobData("c".repeat(64));
    data.request = { ...data.request, defaults: script(SECRET) };
    await storeRefusedBuild(redis, {
      data,
      progress: { imagebuilder_status: "failed", detail: "Error: Impossible package selection" },
      timestamp: Date.now(),
    });
    const snapshot = await readRefusedBuild(redis, data.requestHash);
    const answer = buildAnswer(snapshot as NonNullable<typeof snapshot>);
    expect(JSON.stringify(answer)).not.toContain(SECRET);
    expect(answer.body.request).toMatchObject({ defaults_sha256: sha256(script(SECRET)) });
  });

  it("puts the hash where the script was, and nothing for an empty or absent one", () => {
    const request = { version: "24.10.0", defaults: "x", target: "ath79/generic" };
    expect(Object.keys(answerRequest(request as never))).toEqual([
      "version",
      "defaults_sha256",
      "target",
    ]);
    expect(answerRequest({ ...request, defaults: "" } as never)).toEqual({
      version: "24.10.0",
      target: "ath79/generic",
    });
    const none = { version: "24.10.0" };
    expect(answerRequest(none as never)).toEqual(none);
  });
});
