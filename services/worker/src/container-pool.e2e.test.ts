import { randomBytes } from "node:crypto";
import Docker from "dockerode";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FIXTURE_REVISION_24_10 } from "../../../test/support/fake-upstream.ts";
import { buildImagebuilderDouble } from "../../../test/support/imagebuilder-double.ts";
import {
  BUILD_NETWORK,
  ensurePodmanNetwork,
  type PodmanService,
  startPodmanService,
} from "../../../test/support/podman-service.ts";
import { BUILD_LABEL, WARM_BUILD, WORKER_LABEL } from "./build-container.ts";
import { type ContainerPool, createContainerPool, type WarmContainer } from "./container-pool.ts";
import { INFO_COMMAND } from "./imagebuilder-commands.ts";
import { openImagebuilderSession, removeLeftovers } from "./imagebuilder-session.ts";

const SANDBOX = { memoryBytes: 1024 ** 3, cpus: 1, diskMb: 256, outputMaxMb: 64, pidsLimit: 256 };

describe("warm build containers", () => {
  let podman: PodmanService;
  let docker: Docker;
  let release: string;
  let snapshot: string;
  const pools: ContainerPool[] = [];
  const workerIds: string[] = [];
  const BASE = "localhost/asu-test/container-pool";

  beforeAll(async () => {
    podman = await startPodmanService();
    await ensurePodmanNetwork(podman.env, BUILD_NETWORK);
    docker = new Docker({ socketPath: podman.socketPath });
    release = await buildImagebuilderDouble(podman, {
      baseContainer: BASE,
      tag: "v24.10.0",
      flavour: "opkg",
      version: "24.10.0",
      revision: FIXTURE_REVISION_24_10,
      target: "ath79/generic",
    });
    snapshot = await buildImagebuilderDouble(podman, {
      baseContainer: BASE,
      tag: "master",
      flavour: "apk",
      version: "SNAPSHOT",
      revision: "r29000-aaaaaaaaaa",
      target: "x86/64",
    });
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

  function newPool(size: number) {
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
      onError: (error) => errors.push(error),
    });
    pools.push(pool);
    return { pool, workerId, spec, errors };
  }

  const containersOf = (workerId: string) =>
    docker.listContainers({ all: true, filters: { label: [`${WORKER_LABEL}=${workerId}`] } });

  /** Takes a container once one is ready. */
  async function takeWhenReady(pool: ContainerPool, image: string, id: string) {
    let taken: WarmContainer | undefined;
    await expect
      .poll(
        () => {
          taken = pool.take(image, id);
          return taken;
        },
        { timeout: 60_000 },
      )
      .toBeDefined();
    return taken as WarmContainer;
  }

  it("hands out a started container with a build container's sandbox, once", async () => {
    const { pool, workerId, spec, errors } = newPool(1);
    const id = await imageId(release);
    pool.prepare(release, id);
    const warm = await takeWhenReady(pool, release, id);
    expect(pool.take(release, id)).toBeUndefined();
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
    const session = await openImagebuilderSession(docker, {
      ...spec,
      image: release,
      imageId: id,
      warm,
      requestHash: `pool-${randomBytes(6).toString("hex")}`,
    });
    expect(session.containerId).toBe(warm.id);
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
    pool.prepare(release, releaseId);
    pool.prepare(release, releaseId);
    expect(pool.held).toBe(1);
    await expect
      .poll(async () => (await containersOf(workerId)).filter((c) => c.State === "running"))
      .toHaveLength(1);
    pool.prepare(snapshot, snapshotId);
    expect(pool.held).toBe(1);
    const warm = await takeWhenReady(pool, snapshot, snapshotId);
    expect(pool.take(release, releaseId)).toBeUndefined();
    await expect
      .poll(async () => (await containersOf(workerId)).map((c) => c.Id))
      .toEqual([warm.id]);
    await docker.getContainer(warm.id).remove({ force: true });
  }, 180_000);

  it("drops the containers of an image whose id changed", async () => {
    const { pool, workerId } = newPool(2);
    const id = await imageId(release);
    pool.prepare(release, id);
    await expect
      .poll(async () => (await containersOf(workerId)).filter((c) => c.State === "running"))
      .toHaveLength(1);
    // The name now points at another image (a pull): nothing made from the old one is handed out.
    expect(pool.take(release, "sha256:0000")).toBeUndefined();
    expect(pool.held).toBe(0);
    await expect.poll(async () => (await containersOf(workerId)).length).toBe(0);
  }, 180_000);

  it("removes everything when it closes, a container still being made included", async () => {
    const { pool, workerId } = newPool(2);
    const [releaseId, snapshotId] = await Promise.all([imageId(release), imageId(snapshot)]);
    pool.prepare(release, releaseId);
    await expect
      .poll(async () => (await containersOf(workerId)).filter((c) => c.State === "running"))
      .toHaveLength(1);
    pool.prepare(snapshot, snapshotId);
    await pool.close();
    expect(pool.held).toBe(0);
    await expect.poll(async () => (await containersOf(workerId)).length).toBe(0);
    pool.prepare(release, releaseId);
    expect(pool.held).toBe(0);
  }, 180_000);
});
