import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { listBuildContainers } from "../packages/build-worker/src/imagebuilder-session.ts";
import type { RunningWorker } from "../packages/build-worker/src/worker.ts";
import {
  type AsuStack,
  ATH79_24_10_DOUBLE,
  postJson,
  startAsuStack,
  waitForBuild,
} from "./support/asu-stack.ts";
import { containersGone } from "./support/containers.ts";
import { publishDoubleIndexes } from "./support/double-indexes.ts";
import { FIXTURE_REVISION_24_10 } from "./support/fake-upstream.ts";

/*
 * The whole build path over real HTTP: prepare tier → build tier → Redis
 * queue → worker → Podman → test-double ImageBuilder → store → download.
 */

const BASE = "localhost/asu-e2e-flow/imagebuilder";
const REVISION = FIXTURE_REVISION_24_10;
let stack: AsuStack;
let worker: RunningWorker;

beforeAll(async () => {
  stack = await startAsuStack({
    baseContainer: BASE,
    images: [
      ATH79_24_10_DOUBLE,
      {
        tag: "v24.10.0",
        flavour: "opkg",
        version: "24.10.0",
        revision: REVISION,
        target: "x86/64",
      },
      {
        tag: "master",
        flavour: "apk",
        version: "SNAPSHOT",
        revision: "r29000-aaaaaaaaaa",
        target: "x86/64",
      },
    ],
  });
  // The snapshot x86/64 target exists upstream only for this file's tests.
  const targets = (await (
    await fetch(`${stack.upstream.url}/snapshots/.targets.json`)
  ).json()) as Record<string, string>;
  stack.upstream.addFile(
    "snapshots/.targets.json",
    JSON.stringify({ ...targets, "x86/64": "x86_64" }),
  );
  const x86 = await (
    await fetch(`${stack.upstream.url}/releases/24.10.0/targets/x86/64/profiles.json`)
  ).text();
  // With a kernel, as snapshots publish theirs: kernel modules live in kmods/.
  const snapshotProfiles = JSON.parse(
    x86.replaceAll("24.10.0", "SNAPSHOT").replaceAll(REVISION, "r29000-aaaaaaaaaa"),
  );
  snapshotProfiles.linux_kernel = {
    version: "6.6.74",
    release: "1",
    vermagic: "0123456789abcdef0123456789abcdef",
  };
  stack.upstream.addFile(
    "snapshots/targets/x86/64/profiles.json",
    JSON.stringify(snapshotProfiles),
  );
  await publishDoubleIndexes(stack.upstream, {
    version: "SNAPSHOT",
    target: "x86/64",
    flavour: "apk",
  });
  // A custom opkg feed with the one package no upstream index has.
  stack.upstream.addFile(
    "custom/feed/Packages",
    "Package: custom-tool\nVersion: 1.0-r1\nDepends: libc\nArchitecture: mips_24kc\n",
  );
  worker = await stack.startWorker({ worker_concurrency: 2 });
}, 300_000);

afterAll(async () => {
  await stack?.stop();
}, 120_000);

const archer = {
  version: "24.10.0",
  target: "ath79/generic",
  profile: "tplink,archer-c7-v5",
  packages: ["luci", "auc"],
};

async function download(binDir: string, name: string): Promise<Buffer> {
  const res = await fetch(`${stack.buildUrl}/store/${binDir}/${name}`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("application/octet-stream");
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  return Buffer.from(await res.arrayBuffer());
}

/** The build's answer once a worker has taken it. */
function waitForStage(hash: string) {
  return vi.waitFor(
    async () => {
      const res = await fetch(`${stack.buildUrl}/api/v1/build/${hash}`);
      const body = (await res.json()) as any;
      expect(body.detail).not.toBe("queued");
      return body;
    },
    { timeout: 60_000, interval: 100 },
  );
}

async function containersOf(hash: string) {
  return listBuildContainers(stack.docker, hash);
}

describe("prepare → build → poll → download", () => {
  it("builds the prepared request under the hash prepare announced", async () => {
    const prepared = await postJson(`${stack.prepareUrl}/api/v1/build/prepare`, {
      ...archer,
      from_version: "23.05.0",
    });
    expect(prepared.status).toBe(200);
    expect(prepared.body.resolved_packages).toEqual(["luci", "owut"]);
    expect(prepared.body.cache_available).toBe(false);

    const queued = await postJson(
      `${stack.buildUrl}/api/v1/build?skip_package_resolution=true`,
      prepared.body.prepared_request,
    );
    expect(queued.status).toBe(202);
    expect(queued.body.request_hash).toBe(prepared.body.request_hash);

    const done = await waitForBuild(stack.buildUrl, prepared.body.request_hash);
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({
      status: 200,
      detail: "done",
      imagebuilder_status: "done",
      id: "tplink_archer-c7-v5",
      bin_dir: prepared.body.request_hash,
      version_code: REVISION,
      target: "ath79/generic",
    });
    expect(done.body.build_cmd_packages).toEqual(expect.arrayContaining(["luci", "owut"]));
    expect(done.body.manifest).toHaveProperty("owut");
    expect(done.body.build_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(done.body.images.length).toBeGreaterThan(0);
    for (const image of done.body.images) {
      const bytes = await download(done.body.bin_dir, image.name);
      expect(createHash("sha256").update(bytes).digest("hex")).toBe(image.sha256);
    }

    // The prepare tier believes "not built" for a moment, then asks again.
    await expect
      .poll(
        async () =>
          (
            await postJson(`${stack.prepareUrl}/api/v1/build/prepare`, {
              ...archer,
              from_version: "23.05.0",
            })
          ).body.cache_available,
        { timeout: 15_000 },
      )
      .toBe(true);
    expect(await containersGone(stack.docker, `asu.build=${prepared.body.request_hash}`)).toEqual(
      [],
    );
  });
});

describe("legacy POST /api/v1/build", () => {
  it("applies the package rules itself, then answers repeats from the cache", async () => {
    const queued = await postJson(`${stack.buildUrl}/api/v1/build`, archer);
    expect(queued.status).toBe(202);
    const done = await waitForBuild(stack.buildUrl, queued.body.request_hash);
    expect(done.status).toBe(200);
    expect(done.body.build_cmd_packages).toContain("owut");
    expect(done.body.build_cmd_packages).not.toContain("auc");
    expect(done.body.request.profile).toBe("tplink_archer-c7-v5");

    const repeat = await postJson(`${stack.buildUrl}/api/v1/build`, archer);
    expect(repeat.status).toBe(200);
    expect(repeat.body.bin_dir).toBe(done.body.bin_dir);
  });

  it("builds generic for any profile name on x86/64", async () => {
    const queued = await postJson(`${stack.buildUrl}/api/v1/build`, {
      version: "24.10.0",
      target: "x86/64",
      profile: "some-pc-board",
      packages: ["htop"],
    });
    const done = await waitForBuild(stack.buildUrl, queued.body.request_hash);
    expect(done.status).toBe(200);
    expect(done.body.id).toBe("generic");
  });

  it("builds an apk SNAPSHOT after running setup.sh", async () => {
    const queued = await postJson(`${stack.buildUrl}/api/v1/build`, {
      version: "SNAPSHOT",
      target: "x86/64",
      profile: "generic",
      packages: ["htop"],
    });
    expect(queued.status).toBe(202);
    const done = await waitForBuild(stack.buildUrl, queued.body.request_hash);
    expect(done.status).toBe(200);
    expect(done.body.version_number).toBe("SNAPSHOT");
    expect(done.body.manifest).toHaveProperty("htop");
  });

  it("reports an unknown package at once, with no job and no container", async () => {
    const request = { ...archer, packages: ["luci", "zz-no-such", "no-such-package"] };
    const failed = await postJson(`${stack.buildUrl}/api/v1/build`, request);
    expect(failed.status).toBe(500);
    const hash: string = failed.body.request_hash;
    expect(failed.body).toMatchObject({
      status: 500,
      detail: "Error: Impossible package selection: missing (no-such-package, zz-no-such)",
      imagebuilder_status: "failed",
      request_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    // stderr says which indexes were searched.
    expect(failed.body.stderr).toContain("no-such-package");
    expect(failed.body.stderr).toContain(
      `${stack.upstream.url}/releases/24.10.0/targets/ath79/generic/packages/Packages`,
    );
    expect(failed.body.stderr).toContain(
      `${stack.upstream.url}/releases/24.10.0/packages/mips_24kc/luci/Packages`,
    );
    expect(await stack.queue.queue.getJob(hash)).toBeUndefined();
    expect(await containersOf(hash)).toEqual([]);

    // Polls and repeats read the same stored failure.
    const polled = await fetch(`${stack.buildUrl}/api/v1/build/${hash}`);
    expect(polled.status).toBe(500);
    expect(polled.headers.get("x-imagebuilder-status")).toBe("failed");
    expect(await polled.json()).toEqual(failed.body);
    const repeat = await postJson(`${stack.buildUrl}/api/v1/build`, request);
    expect(repeat).toEqual(failed);
  });

  it("fails a release pin the index contradicts before the queue", async () => {
    const failed = await postJson(`${stack.buildUrl}/api/v1/build`, {
      ...archer,
      packages_versions: { luci: "25.0.0-r1" },
    });
    expect(failed.status).toBe(500);
    expect(failed.body.detail).toBe(
      "Error: Impossible package selection: luci version not as requested: 25.0.0-r1 vs. 25.033.27781~eaa84a1-r1",
    );
  });

  it("fails a missing package of an apk snapshot before the queue", async () => {
    const failed = await postJson(`${stack.buildUrl}/api/v1/build`, {
      version: "SNAPSHOT",
      target: "x86/64",
      profile: "generic",
      packages: ["htop", "no-such-package"],
    });
    expect(failed.status).toBe(500);
    expect(failed.body.detail).toBe(
      "Error: Impossible package selection: missing (no-such-package)",
    );
    expect(await containersOf(failed.body.request_hash)).toEqual([]);
  });

  it("still builds kernel modules, ABI-suffixed libraries and removals", async () => {
    const queued = await postJson(`${stack.buildUrl}/api/v1/build`, {
      ...archer,
      packages: ["luci", "kmod-usb-storage", "libubox20240329", "libuci", "-urngd"],
    });
    expect(queued.status).toBe(202);
    const done = await waitForBuild(stack.buildUrl, queued.body.request_hash);
    expect(done.status).toBe(200);
    expect(done.body.manifest).toHaveProperty("kmod-usb-storage");
    expect(done.body.manifest).not.toHaveProperty("urngd");
  });

  it("builds a package only a custom repository has", async () => {
    const alone = await postJson(`${stack.buildUrl}/api/v1/build`, {
      ...archer,
      packages: ["custom-tool"],
    });
    expect(alone.status).toBe(500);

    const queued = await postJson(`${stack.buildUrl}/api/v1/build`, {
      ...archer,
      packages: ["custom-tool"],
      repositories: { custom: `${stack.upstream.url}/custom/feed` },
      repositories_mode: "append",
    });
    expect(queued.status).toBe(202);
    const done = await waitForBuild(stack.buildUrl, queued.body.request_hash);
    expect(done.status).toBe(200);
    expect(done.body.manifest).toHaveProperty("custom-tool");
  });

  it("never refuses what a custom repository that cannot be read might have", async () => {
    const queued = await postJson(`${stack.buildUrl}/api/v1/build`, {
      ...archer,
      packages: ["custom-tool", "htop"],
      repositories: { gone: `${stack.upstream.url}/custom/no-such-feed` },
      repositories_mode: "append",
    });
    expect(queued.status).toBe(202);
    const done = await waitForBuild(stack.buildUrl, queued.body.request_hash);
    expect(done.status).toBe(200);
  });

  it("refuses a revision other than the requested version_code", async () => {
    const queued = await postJson(`${stack.buildUrl}/api/v1/build`, {
      ...archer,
      version_code: "r1-0000000000",
    });
    const failed = await waitForBuild(stack.buildUrl, queued.body.request_hash);
    expect(failed.status).toBe(500);
    expect(failed.body.detail).toBe(
      `Error: Received incorrect version ${REVISION} (requested r1-0000000000)`,
    );
  });
});

describe("concurrency and failures", () => {
  it("makes one job and one container for 50 identical concurrent requests", async () => {
    const request = { ...archer, packages: ["luci", "slowpackage"] };
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => postJson(`${stack.buildUrl}/api/v1/build`, request)),
    );
    const hashes = new Set(answers.map((answer) => answer.body.request_hash));
    expect(hashes.size).toBe(1);
    const [hash] = [...hashes] as [string];
    // Sampled at every poll until the build is over.
    let most = 0;
    await vi.waitFor(
      async () => {
        most = Math.max(most, (await containersOf(hash)).length);
        const res = await fetch(`${stack.buildUrl}/api/v1/build/${hash}`);
        await res.arrayBuffer();
        expect(res.status).not.toBe(202);
      },
      { timeout: 80_000, interval: 100 },
    );
    expect(most).toBe(1);
    expect(await containersGone(stack.docker, `asu.build=${hash}`)).toEqual([]);
  });

  it("ends a build whose worker was killed with SIGKILL, leaving no container", async () => {
    const request = { ...archer, packages: ["luci", "slowpackage", "tcpdump"] };
    const main = fileURLToPath(new URL("../services/worker/src/main.ts", import.meta.url));
    const env = {
      ...process.env,
      ...stack.workerEnv,
      WORKER_ID: "doomed-worker",
      LOG_LEVEL: "error",
    };

    // Only the doomed worker may take this job: the in-process one pauses.
    await worker.worker.pause(true);
    const queued = await postJson(
      `${stack.buildUrl}/api/v1/build?skip_package_resolution=true`,
      request,
    );
    const hash: string = queued.body.request_hash;
    // node itself, not a wrapper script: SIGKILL must hit the worker process.
    const doomed = spawn(process.execPath, [main], { env, stdio: "ignore" });
    try {
      await expect
        .poll(async () => (await containersOf(hash)).length, { timeout: 30_000, interval: 100 })
        .toBe(1);
      expect((await waitForStage(hash)).detail).toBe("started");
    } finally {
      doomed.kill("SIGKILL");
    }
    // The surviving worker finds the stalled job once its lock expires.
    worker.worker.resume();

    const finished = await waitForBuild(stack.buildUrl, hash, 180_000);
    expect([200, 500]).toContain(finished.status);
    if (finished.status === 500) expect(finished.body.detail).toMatch(/^Error: /);
    expect(await containersGone(stack.docker, `asu.build=${hash}`, 20_000)).toEqual([]);
  }, 240_000);
});
