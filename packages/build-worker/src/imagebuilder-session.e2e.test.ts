import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { manifestHash } from "@asu/contract";
import { parseManifest } from "@asu/imagebuilder-formats";
import type Docker from "dockerode";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BUILD_NETWORK, type PodmanService } from "../../../test/support/podman-service.ts";
import { startPodmanWithDoubles } from "../../../test/support/podman-with-doubles.ts";
import { BUILD_LABEL, WARM_BUILD, WORKER_LABEL } from "./build-container.ts";
import { type ContainerPool, createContainerPool, type WarmContainer } from "./container-pool.ts";
import {
  binDir,
  INFO_COMMAND,
  imageCommand,
  manifestCommand,
  manifestThenImageCommand,
} from "./imagebuilder-commands.ts";
import {
  listBuildContainers,
  openImagebuilderSession,
  removeLeftovers,
} from "./imagebuilder-session.ts";
import { OutputTooLarge } from "./tar-extract.ts";

const SANDBOX = { memoryBytes: 1024 ** 3, cpus: 1, diskMb: 256, outputMaxMb: 64, pidsLimit: 256 };

describe("build containers: warm ones, and a step that waits for the worker", () => {
  let podman: PodmanService;
  let docker: Docker;
  let release: string;
  let snapshot: string;
  const pools: ContainerPool[] = [];
  const workerIds: string[] = [];
  const BASE = "localhost/asu-test/container-pool";

  beforeAll(async () => {
    ({ podman, docker, release, snapshot } = await startPodmanWithDoubles(BASE));
  }, 300_000);

  afterEach(async () => {
    await Promise.all(pools.splice(0).map((pool) => pool.close()));
  });

  afterAll(async () => {
    for (const workerId of workerIds) {
      await removeLeftovers(docker, { workerId, olderThanSeconds: Number.POSITIVE_INFINITY });
    }
    await podman?.stop();
  }, 60_000);

  const imageId = async (image: string) => (await docker.getImage(image).inspect()).Id;

  function newPool(size: number, followed?: () => Promise<boolean>) {
    const workerId = `pool-test-${randomBytes(4).toString("hex")}`;
    workerIds.push(workerId);
    const spec = {
      workerId,
      jobTimeoutSeconds: 120,
      network: BUILD_NETWORK,
      sandbox: SANDBOX,
    };
    const errors: Error[] = [];
    const pool = createContainerPool({
      docker,
      size,
      spec,
      followed,
      onError: (error) => errors.push(error),
    });
    pools.push(pool);
    return { pool, workerId, spec, errors };
  }

  const containersOf = (workerId: string) =>
    docker.listContainers({ all: true, filters: { label: [`${WORKER_LABEL}=${workerId}`] } });

  /** A build of the image on this pool that has started and ended. */
  const built = (pool: ContainerPool, image: string, id: string) => pool.building(image, id)();

  /** Takes a container once one is ready. */
  async function takeWhenReady(pool: ContainerPool, image: string, id: string) {
    let taken: WarmContainer | undefined;
    await expect
      .poll(
        async () => {
          taken = await pool.take(image, id);
          return taken;
        },
        { timeout: 60_000 },
      )
      .toBeDefined();
    return taken as WarmContainer;
  }

  const running = async (workerId: string) =>
    (await containersOf(workerId)).filter((c) => c.State === "running");

  it("hands out a started container with a build container's sandbox, once", async () => {
    const { pool, workerId, spec, errors } = newPool(1);
    const id = await imageId(release);
    // An image built once in a while gets none; one built again does.
    built(pool, release, id);
    expect(pool.held).toBe(0);
    built(pool, release, id);
    expect(pool.held).toBe(1);
    const warm = await takeWhenReady(pool, release, id);
    expect(await pool.take(release, id)).toBeUndefined();
    expect(pool.held).toBe(0);

    const info = await docker.getContainer(warm.id).inspect();
    expect(info.State.Running).toBe(true);
    expect(info.Config.Labels[BUILD_LABEL]).toBe(WARM_BUILD);
    expect(info.Config.Labels[WORKER_LABEL]).toBe(workerId);

    // The same sandbox as a container made for a build.
    const cold = await openImagebuilderSession(docker, {
      ...spec,
      image: release,
      imageId: id,
      requestHash: `pool-${randomBytes(6).toString("hex")}`,
    });
    try {
      const made = await docker.getContainer(cold.containerId).inspect();
      const sandboxOf = (c: Docker.ContainerInspectInfo) => {
        const host = c.HostConfig as Docker.HostConfig & { Tmpfs?: Record<string, string> };
        return {
          image: c.Image,
          capDrop: host.CapDrop,
          securityOpt: host.SecurityOpt,
          readonly: host.ReadonlyRootfs,
          tmpfs: host.Tmpfs,
          memory: host.Memory,
          cpus: host.NanoCpus,
          pids: host.PidsLimit,
          network: host.NetworkMode,
          user: c.Config.User,
        };
      };
      expect(sandboxOf(info)).toEqual(sandboxOf(made));
      // Podman lists ALL as the capabilities it dropped.
      expect(info.HostConfig.CapDrop?.map((cap: string) => cap.replace(/^CAP_/, ""))).toContain(
        "CHOWN",
      );
    } finally {
      await cold.remove();
    }

    // A build's session in it: nothing ran there before, and it goes with the build.
    const requestHash = `pool-${randomBytes(6).toString("hex")}`;
    const session = await openImagebuilderSession(docker, {
      ...spec,
      image: release,
      imageId: id,
      warm,
      requestHash,
    });
    expect(session.containerId).toBe(warm.id);
    // Named after its build, so the build's containers include it.
    await expect
      .poll(async () => (await listBuildContainers(docker, requestHash)).map((c) => c.Id))
      .toEqual([warm.id]);
    // Its only process is its own sleep: idle time on top of the job timeout.
    const top = await docker.getContainer(warm.id).top();
    expect(top.Processes?.map((row: string[]) => row.join(" "))).toEqual([
      expect.stringMatching(/sleep 420$/),
    ]);
    expect((await session.exec(INFO_COMMAND)).exitCode).toBe(0);
    await session.remove();
    await expect.poll(async () => (await containersOf(workerId)).length).toBe(0);
    expect(errors).toEqual([]);
  }, 180_000);

  it("holds at most its size; an idle container of another image makes room", async () => {
    const { pool, workerId } = newPool(1);
    const [releaseId, snapshotId] = await Promise.all([imageId(release), imageId(snapshot)]);
    built(pool, release, releaseId);
    built(pool, release, releaseId);
    built(pool, release, releaseId);
    expect(pool.held).toBe(1);
    await expect.poll(() => running(workerId)).toHaveLength(1);
    built(pool, snapshot, snapshotId);
    built(pool, snapshot, snapshotId);
    expect(pool.held).toBe(1);
    const warm = await takeWhenReady(pool, snapshot, snapshotId);
    expect(await pool.take(release, releaseId)).toBeUndefined();
    await expect
      .poll(async () => (await containersOf(workerId)).map((c) => c.Id))
      .toEqual([warm.id]);
    await docker.getContainer(warm.id).remove({ force: true });
  }, 180_000);

  it("drops the containers of an image whose id changed", async () => {
    const { pool, workerId } = newPool(2);
    const id = await imageId(release);
    built(pool, release, id);
    built(pool, release, id);
    await expect.poll(() => running(workerId)).toHaveLength(1);
    // The name now points at another image (a pull): nothing made from the old one is handed out.
    expect(await pool.take(release, "sha256:0000")).toBeUndefined();
    expect(pool.held).toBe(0);
    await expect.poll(async () => (await containersOf(workerId)).length).toBe(0);
  }, 180_000);

  it("removes everything when it closes, a container still being made included", async () => {
    const { pool, workerId } = newPool(2);
    const [releaseId, snapshotId] = await Promise.all([imageId(release), imageId(snapshot)]);
    built(pool, release, releaseId);
    built(pool, release, releaseId);
    await expect.poll(() => running(workerId)).toHaveLength(1);
    built(pool, snapshot, snapshotId);
    built(pool, snapshot, snapshotId);
    expect(pool.held).toBe(2);
    await pool.close();
    expect(pool.held).toBe(0);
    await expect.poll(async () => (await containersOf(workerId)).length).toBe(0);
    built(pool, release, releaseId);
    built(pool, release, releaseId);
    expect(pool.held).toBe(0);
  }, 180_000);

  it("readies the next container beside a build its slot is likely followed on, else once it ends", async () => {
    let waiting = false;
    let asked = 0;
    const { pool, workerId, errors } = newPool(1, async () => {
      asked++;
      return waiting;
    });
    const id = await imageId(release);
    built(pool, release, id);

    // Not followed (the last build of a burst): it readies none while it runs.
    const last = pool.building(release, id);
    await expect.poll(() => asked).toBe(1);
    // The answer has been acted on.
    await new Promise((resolve) => setImmediate(resolve));
    expect(pool.held).toBe(0);
    expect(await containersOf(workerId)).toEqual([]);
    // Ended: one for a later build of the image.
    last();
    expect(pool.held).toBe(1);
    const later = await takeWhenReady(pool, release, id);

    // Followed: the next build's container is readied beside this one.
    waiting = true;
    const burst = pool.building(release, id);
    await expect.poll(() => pool.held).toBe(1);
    const next = await takeWhenReady(pool, release, id);
    expect(next.id).not.toBe(later.id);
    // Its ending readies no second one: this build readied its successor's.
    burst();
    expect(pool.held).toBe(0);

    // Ended while another build's container for the image is held: no second one.
    waiting = false;
    const first = pool.building(release, id);
    const second = pool.building(release, id);
    first();
    expect(pool.held).toBe(1);
    second();
    expect(pool.held).toBe(1);
    const kept = await takeWhenReady(pool, release, id);
    await Promise.all(
      [later, next, kept].map((c) => docker.getContainer(c.id).remove({ force: true })),
    );
    expect(errors).toEqual([]);
  }, 180_000);

  it("has a build wait for a container still being made for its image, and gives it to one", async () => {
    const { pool, workerId, errors } = newPool(2);
    const id = await imageId(release);
    built(pool, release, id);
    built(pool, release, id);
    expect(pool.held).toBe(1);
    // Asked while it is being made: both ask, one gets it, the other makes its own.
    const [one, two] = await Promise.all([pool.take(release, id), pool.take(release, id)]);
    const taken = [one, two].filter((c): c is WarmContainer => c !== undefined);
    expect(taken).toHaveLength(1);
    const info = await docker.getContainer((taken[0] as WarmContainer).id).inspect();
    expect(info.State.Running).toBe(true);
    expect(pool.held).toBe(0);

    // A build that stops waiting (its timeout, a shutdown) leaves it to the next.
    built(pool, release, id);
    const stopped = new AbortController();
    const waited = pool.take(release, id, stopped.signal);
    stopped.abort();
    expect(await waited).toBeUndefined();
    const next = await pool.take(release, id);
    expect(next).toBeDefined();
    expect((await running(workerId)).map((c) => c.Id).sort()).toEqual(
      [(taken[0] as WarmContainer).id, (next as WarmContainer).id].sort(),
    );
    for (const c of [taken[0], next])
      await docker.getContainer((c as WarmContainer).id).remove({ force: true });
    expect(errors).toEqual([]);
  }, 180_000);

  describe("make manifest and make image in one exec, with the worker's answer between", () => {
    const PROFILE = "tplink_archer-c7-v5";

    async function mergedStep(packages: string[], answer: (manifest: string) => Promise<string>) {
      const requestHash = `merged-${randomBytes(6).toString("hex")}`;
      const { spec } = newPool(0);
      const session = await openImagebuilderSession(docker, {
        ...spec,
        image: release,
        requestHash,
      });
      const marker = `asu-test-${randomBytes(4).toString("hex")}`;
      const image = imageCommand({
        request: { profile: PROFILE, defaults: null, rootfs_size_mb: null, filesystem: null },
        packages,
        manifest: {},
        requestHash,
      });
      const asked: string[] = [];
      const run = session.execWithAnswer(
        manifestThenImageCommand(manifestCommand(PROFILE, packages), image, marker),
        {
          marker,
          answer: async (before) => {
            asked.push(before.stdout);
            return answer(before.stdout);
          },
        },
      );
      return { session, run, asked, requestHash, marker };
    }

    it("runs make image named after the manifest the worker checked", async () => {
      const { session, run, asked, requestHash, marker } = await mergedStep(
        ["luci"],
        async (text) => manifestHash(parseManifest(text)),
      );
      try {
        const result = await run;
        expect(result.exitCode, result.stderr).toBe(0);
        const manifest = parseManifest(result.before?.stdout ?? "");
        expect(manifest).toHaveProperty("luci");
        expect(asked).toHaveLength(1);
        // The marker itself is in neither part.
        expect(`${result.before?.stdout}${result.stdout}${result.stderr}`).not.toContain(marker);
        const profiles = JSON.parse(
          (await session.readFile(`${binDir(requestHash)}/profiles.json`)) ?? "{}",
        );
        const names = JSON.stringify(profiles);
        expect(names).toContain(manifestHash(manifest));
      } finally {
        await session.remove();
      }
    }, 180_000);

    it("stops before make image when the answer fails, with the answer's error", async () => {
      const refused = new Error("packages_versions mismatch");
      const { session, run, requestHash } = await mergedStep(["luci"], async () => {
        throw refused;
      });
      try {
        await expect(run).rejects.toBe(refused);
        expect(await session.exists(binDir(requestHash))).toBe(false);
      } finally {
        await session.remove();
      }
    }, 180_000);

    it("asks nothing when make manifest fails, and keeps its output and exit code", async () => {
      const { session, run, asked } = await mergedStep(["no-such-package"], async () => "0");
      try {
        const result = await run;
        expect(result.before).toBeUndefined();
        expect(asked).toEqual([]);
        expect(result.exitCode).not.toBe(0);
        expect(result.stderr).toContain("no-such-package");
      } finally {
        await session.remove();
      }
    }, 180_000);
  });

  describe("copying a build's output out", () => {
    async function sessionWith(script: string) {
      const requestHash = `copy-${randomBytes(6).toString("hex")}`;
      const { spec } = newPool(0);
      const session = await openImagebuilderSession(docker, {
        ...spec,
        image: release,
        requestHash,
      });
      const dir = binDir(requestHash);
      const made = await session.exec([
        "sh",
        "-c",
        `mkdir -p ${dir}/sub && cd ${dir} && ${script}`,
      ]);
      expect(made.exitCode, made.stderr).toBe(0);
      const host = await mkdtemp(join(tmpdir(), "asu-copy-test-"));
      hostDirs.push(host);
      return { session, dir, host: join(host, "out") };
    }
    const hostDirs: string[] = [];
    afterAll(async () => {
      await Promise.all(hostDirs.map((dir) => rm(dir, { recursive: true, force: true })));
    });

    it("copies the directory's files, below it, as they are", async () => {
      const { session, dir, host } = await sessionWith(
        "printf one > a.bin && printf '{}' > profiles.json && printf two > sub/b.txt && ln -s a.bin link && head -c 20000000 /dev/urandom > big.img",
      );
      try {
        const copied = await session.copyOut(dir, host);
        expect(copied.files.sort()).toEqual(["a.bin", "big.img", "profiles.json", "sub/b.txt"]);
        // Larger than any buffer on the way: it arrives whole.
        expect((await stat(join(host, "big.img"))).size).toBe(20_000_000);
        expect(copied.skipped.map((name) => name.replace(/^\.\//, ""))).toEqual([
          expect.stringMatching(/link$/),
        ]);
        expect(await readFile(join(host, "sub/b.txt"), "utf8")).toBe("two");
        await expect(session.copyOut(dir, `${host}-small`, 1_000_000)).rejects.toBeInstanceOf(
          OutputTooLarge,
        );
      } finally {
        await session.remove();
      }
    }, 120_000);

    it("falls back to the archive API when the container's tar cannot read a file", async () => {
      // buildbot's own tar fails on a file it may not read; Podman's archive API still can.
      const { session, dir, host } = await sessionWith(
        "printf one > a.bin && printf secret > locked && chmod 000 locked",
      );
      try {
        const copied = await session.copyOut(dir, host);
        expect(copied.files.sort()).toEqual(["a.bin", "locked"]);
        expect(await readFile(join(host, "locked"), "utf8")).toBe("secret");
      } finally {
        await session.remove();
      }
    }, 120_000);
  });
});
