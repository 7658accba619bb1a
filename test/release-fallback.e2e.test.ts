import { Writable } from "node:stream";
import { createLogger } from "@asu/observability";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningWorker, startWorker } from "../packages/build-worker/src/worker.ts";
import {
  type AsuStack,
  ATH79_24_10_DOUBLE,
  postJson,
  startAsuStack,
  waitForBuild,
} from "./support/asu-stack.ts";
import { FIXTURE_REVISION_24_10 } from "./support/fake-upstream.ts";
import {
  buildImagebuilderDouble,
  imagebuilderDoubleRelease,
} from "./support/imagebuilder-double.ts";
import { runPodman } from "./support/podman-service.ts";
import { startTcpRelay, type TcpRelay } from "./support/tcp-relay.ts";

/*
 * Failures of ours heal themselves: a release whose image is missing builds
 * in its target's snapshot image (setup.sh downloads the release's
 * ImageBuilder from the fake upstream), and a request with no image at all
 * fails as infrastructure after its retries, then builds on the next POST
 * once the image exists.
 */

const BASE = "localhost/asu-e2e-heal/imagebuilder";
const SNAPSHOT_REVISION = "r29500-cccccccccc";
let stack: AsuStack;
let relay: TcpRelay;
let worker: RunningWorker;
const logs: Record<string, unknown>[] = [];
const tagged: string[] = [];

const archer = { version: "24.10.0", target: "ath79/generic", profile: "tplink,archer-c7-v5" };
const x86 = { version: "24.10.0", target: "x86/64", profile: "generic" };

function logsOf(hash: string, msg: string) {
  return logs.filter((line) => line.request_hash === hash && line.msg === msg);
}

/** Removes the names these tests give images; the content-addressed images stay for reuse. */
async function untag(refs: readonly string[]) {
  for (const ref of refs) {
    await runPodman(stack.podman.env, ["untag", ref, ref], { allowFailure: true });
  }
}

beforeAll(async () => {
  stack = await startAsuStack({
    baseContainer: BASE,
    // Only ath79/generic's snapshot image: neither 24.10.0 image exists yet.
    images: [
      {
        tag: "master",
        flavour: "apk",
        version: "SNAPSHOT",
        revision: SNAPSHOT_REVISION,
        target: "ath79/generic",
      },
    ],
    env: { INFRA_RETRIES: "1", INFRA_RETRY_DELAY: "1s" },
  });
  tagged.push(`${BASE}:ath79-generic-master`);
  // A run that was cut short may have left the release images' names behind.
  await untag([`${BASE}:ath79-generic-v24.10.0`, `${BASE}:x86-64-v24.10.0`]);
  // What upstream publishes for the release: its ImageBuilder and sha256sums.
  const release = await imagebuilderDoubleRelease({ ...ATH79_24_10_DOUBLE });
  for (const [name, content] of Object.entries(release.files)) {
    stack.upstream.addFile(`${release.dir}/${name}`, content);
  }
  // Build containers reach the loopback-bound fake upstream through the host.
  relay = await startTcpRelay({
    host: "0.0.0.0",
    targetPort: Number(new URL(stack.upstream.url).port),
  });
  worker = await startWorker({
    config: {
      ...stack.config,
      worker_concurrency: 2,
      upstream_url: `http://host.containers.internal:${relay.port}`,
    },
    logger: createLogger({
      service: "worker",
      level: "info",
      destination: new Writable({
        write(chunk, _encoding, done) {
          for (const line of String(chunk).split("\n").filter(Boolean)) logs.push(JSON.parse(line));
          done();
        },
      }),
    }),
  });
}, 300_000);

afterAll(async () => {
  await worker?.close();
  await relay?.close();
  if (stack) await untag(tagged);
  await stack?.stop();
}, 120_000);

describe("a release without its image", () => {
  it("builds in the snapshot image through setup.sh and yields the release's result", async () => {
    const posted = await postJson(`${stack.buildUrl}/api/v1/build`, {
      ...archer,
      packages: ["luci"],
    });
    expect(posted.status).toBe(202);
    const hash: string = posted.body.request_hash;
    const done = await waitForBuild(stack.buildUrl, hash, 180_000);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body).toMatchObject({
      version_code: FIXTURE_REVISION_24_10,
      version_number: "24.10.0",
      target: "ath79/generic",
      id: "tplink_archer-c7-v5",
    });
    // The release's opkg feed, not the snapshot image's apk one.
    expect(done.body.manifest.luci).toMatch(/^25\./);
    expect(done.body.manifest["apk-mbedtls"]).toBeUndefined();
    const archive = stack.upstream.requests.filter((request) =>
      request.path.startsWith("/releases/24.10.0/targets/ath79/generic/openwrt-imagebuilder-"),
    );
    expect(archive.length).toBeGreaterThanOrEqual(1);
    expect(
      stack.upstream.requestsFor("/releases/24.10.0/targets/ath79/generic/sha256sums").length,
    ).toBeGreaterThanOrEqual(1);
    expect(logsOf(hash, "release image missing: building from the snapshot image")).toEqual([
      expect.objectContaining({
        image: `${BASE}:ath79-generic-v24.10.0`,
        fallback_image: `${BASE}:ath79-generic-master`,
      }),
    ]);
  }, 240_000);

  it("builds from the release image once that image appears", async () => {
    await buildImagebuilderDouble(stack.podman, { ...ATH79_24_10_DOUBLE, baseContainer: BASE });
    tagged.push(`${BASE}:ath79-generic-v24.10.0`);
    const posted = await postJson(`${stack.buildUrl}/api/v1/build`, {
      ...archer,
      packages: ["luci", "auc"],
    });
    const hash: string = posted.body.request_hash;
    const done = await waitForBuild(stack.buildUrl, hash, 180_000);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body.version_code).toBe(FIXTURE_REVISION_24_10);
    expect(logsOf(hash, "build done")).toHaveLength(1);
    expect(logsOf(hash, "release image missing: building from the snapshot image")).toEqual([]);
  }, 240_000);
});

describe("no image at all", () => {
  it("fails as infrastructure after its retries, then builds on the next POST once the image exists", async () => {
    const request = { ...x86, packages: ["htop"] };
    const posted = await postJson(`${stack.buildUrl}/api/v1/build`, request);
    expect(posted.status).toBe(202);
    const hash: string = posted.body.request_hash;

    const failed = await waitForBuild(stack.buildUrl, hash, 120_000);
    expect(failed.status).toBe(500);
    expect(failed.body).toMatchObject({
      detail: `Error: Image not found: ${BASE}:x86-64-v24.10.0. If this version was just released, please try again in a few hours as it may take some time to become fully available.`,
      failure_kind: "infrastructure",
      imagebuilder_status: "failed",
    });
    // One retry (INFRA_RETRIES=1) before the failure became the answer.
    expect(logsOf(hash, "build failed, will be retried")).toHaveLength(1);
    expect(logsOf(hash, "build failed")).toEqual([
      expect.objectContaining({ failure_kind: "infrastructure", failure_reason: "image_missing" }),
    ]);
    // Polls see the failure; the error log names its kind.
    const polled = await fetch(`${stack.buildUrl}/api/v1/build/${hash}`);
    expect(polled.status).toBe(500);
    const errors = await (await fetch(`${stack.buildUrl}/api/v1/build-errors`)).text();
    expect(errors).toContain("[infrastructure] Error: Image not found");

    await buildImagebuilderDouble(stack.podman, {
      tag: "v24.10.0",
      flavour: "opkg",
      version: "24.10.0",
      revision: FIXTURE_REVISION_24_10,
      target: "x86/64",
      baseContainer: BASE,
    });
    tagged.push(`${BASE}:x86-64-v24.10.0`);
    // A new POST is not served the failure: it builds afresh at once.
    const again = await postJson(`${stack.buildUrl}/api/v1/build`, request);
    expect(again.status).toBe(202);
    expect(again.body.request_hash).toBe(hash);
    const built = await waitForBuild(stack.buildUrl, hash, 180_000);
    expect(built.status, JSON.stringify(built.body)).toBe(200);
    expect(built.body.version_code).toBe(FIXTURE_REVISION_24_10);
    // …and its answer is the build's now, on every read.
    const repeated = await postJson(`${stack.buildUrl}/api/v1/build`, request);
    expect(repeated.status).toBe(200);
  }, 300_000);
});
