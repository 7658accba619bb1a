import { randomBytes } from "node:crypto";
import type Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIXTURE_REVISION_24_10 } from "../../../test/support/fake-upstream.ts";
import { BUILD_NETWORK, type PodmanService } from "../../../test/support/podman-service.ts";
import { startPodmanWithDoubles } from "../../../test/support/podman-with-doubles.ts";
import { createImageFacts } from "./image-facts.ts";
import { INFO_COMMAND, SETUP_COMMAND, setupEnvironment } from "./imagebuilder-commands.ts";
import { openImagebuilderSession, removeBuildContainers } from "./imagebuilder-session.ts";

describe("createImageFacts", () => {
  it("answers per image id and stays within its byte bound", () => {
    const facts = createImageFacts(1000);
    facts.set("sha256:a", "exec:make info", { exitCode: 0, stdout: "x", stderr: "" });
    expect(facts.get("sha256:a", "exec:make info")?.value).toEqual({
      exitCode: 0,
      stdout: "x",
      stderr: "",
    });
    expect(facts.get("sha256:b", "exec:make info")).toBeUndefined();
    facts.set("sha256:a", "file:/builder/repositories", null);
    expect(facts.get("sha256:a", "file:/builder/repositories")).toEqual({ value: null });
    for (let i = 0; i < 50; i++) facts.set(`sha256:${i}`, "exec:make info", "y".repeat(100));
    expect(facts.get("sha256:a", "exec:make info")).toBeUndefined();
  });
});

/** Counts the container API calls sessions make, by kind. */
function countingDocker(docker: Docker) {
  const calls: string[] = [];
  const container = (real: Docker.Container) =>
    new Proxy(real, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          const first = args[0] as { Cmd?: string[]; path?: string } | undefined;
          calls.push(`${String(property)} ${first?.Cmd?.join(" ") ?? first?.path ?? ""}`.trim());
          return value.apply(target, args);
        };
      },
    });
  const wrapped = new Proxy(docker, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property === "createContainer") {
        return async (options: Docker.ContainerCreateOptions) =>
          container(await target.createContainer(options));
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { docker: wrapped, calls };
}

describe("ImageBuilder sessions remember what an untouched image answers", () => {
  let podman: PodmanService;
  let docker: Docker;
  let release: string;
  let snapshot: string;
  const hashes: string[] = [];
  const BASE = "localhost/asu-test/image-facts";

  beforeAll(async () => {
    ({ podman, docker, release, snapshot } = await startPodmanWithDoubles(BASE));
  }, 300_000);

  afterAll(async () => {
    for (const hash of hashes) await removeBuildContainers(docker, hash).catch(() => {});
    await podman?.stop();
  }, 60_000);

  async function session(image: string, facts: ReturnType<typeof createImageFacts>) {
    const counted = countingDocker(docker);
    const requestHash = `facts-${randomBytes(6).toString("hex")}`;
    hashes.push(requestHash);
    const opened = await openImagebuilderSession(counted.docker, {
      image,
      requestHash,
      workerId: "facts-test",
      jobTimeoutSeconds: 120,
      network: BUILD_NETWORK,
      sandbox: { memoryBytes: 1024 ** 3, cpus: 1, diskMb: 256, outputMaxMb: 64, pidsLimit: 256 },
      facts,
    });
    return { session: opened, calls: counted.calls };
  }

  it("runs make info and looks for files once per image, not once per build", async () => {
    const facts = createImageFacts();
    const first = await session(release, facts);
    const info = await first.session.exec(INFO_COMMAND);
    expect(info.exitCode).toBe(0);
    expect(info.stdout).toContain(`Current Revision: "${FIXTURE_REVISION_24_10}"`);
    expect(await first.session.exists("/builder/repositories")).toBe(false);
    await first.session.putFiles("/builder", [{ path: "asu-files/x", content: "1" }]);
    expect(first.calls.filter((call) => call === "exec make info")).toHaveLength(1);
    await first.session.remove();

    const second = await session(release, facts);
    expect(await second.session.exists("/builder/repositories")).toBe(false);
    expect(await second.session.exec(INFO_COMMAND)).toEqual(info);
    await second.session.putFiles("/builder", [{ path: "asu-files/x", content: "2" }]);
    // Only writes and what changes per build reach the container.
    // Not even the sandbox opens /builder with an exec: its tmpfs is buildbot's.
    expect(second.calls.filter((call) => call.startsWith("exec"))).toEqual([]);
    expect(second.calls.filter((call) => call.startsWith("infoArchive"))).toEqual([]);
    expect(second.calls.filter((call) => call.startsWith("putArchive"))).toHaveLength(1);
    // What the session wrote is read from the container, never from the cache.
    expect(await second.session.readFile("/builder/asu-files/x")).toBe("2");
    await second.session.remove();
  }, 180_000);

  it("asks the container again once setup.sh has changed it", async () => {
    const facts = createImageFacts();
    for (let round = 0; round < 2; round++) {
      const { session: opened, calls } = await session(snapshot, facts);
      const setup = await opened.exec(SETUP_COMMAND, {
        env: setupEnvironment("x86/64", "snapshots"),
      });
      expect(setup.exitCode, setup.stderr).toBe(0);
      expect(await opened.exists("/builder/repositories")).toBe(true);
      expect((await opened.exec(INFO_COMMAND)).exitCode).toBe(0);
      expect(calls.filter((call) => call === "exec make info")).toHaveLength(1);
      expect(calls.filter((call) => call.startsWith("infoArchive"))).toHaveLength(1);
      await opened.remove();
    }
  }, 180_000);
});
