import { PassThrough } from "node:stream";
import type Docker from "dockerode";
import { describe, expect, it } from "vitest";
import { BuildFailure } from "./build-failure.ts";
import { ensureImage } from "./image-pull.ts";

interface Registry {
  /** What a pull answers: progress lines, or an error at request time. */
  pull: (image: string) => { lines?: object[]; error?: Error; adds?: boolean };
}

/** Just enough of dockerode: image inspect, pull with a progress stream, followProgress. */
function fakeDocker(local: Set<string>, registry: Registry) {
  const calls: string[] = [];
  const docker = {
    getImage: (image: string) => ({
      async inspect() {
        calls.push(`inspect ${image}`);
        if (local.has(image)) return { Id: image };
        throw Object.assign(new Error("no such image"), { statusCode: 404 });
      },
    }),
    pull(
      image: string,
      _options: object,
      callback: (error: Error | null, stream?: PassThrough) => void,
    ) {
      calls.push(`pull ${image}`);
      const answer = registry.pull(image);
      if (answer.error) return callback(answer.error);
      const stream = new PassThrough();
      callback(null, stream);
      for (const line of answer.lines ?? []) stream.write(`${JSON.stringify(line)}\n`);
      if (answer.adds) local.add(image);
      stream.end();
    },
    modem: {
      followProgress(stream: PassThrough, done: (error: Error | null, output: object[]) => void) {
        const output: object[] = [];
        let buffer = "";
        stream.on("data", (chunk) => {
          buffer += String(chunk);
        });
        stream.on("end", () => {
          for (const line of buffer.split("\n").filter(Boolean)) output.push(JSON.parse(line));
          done(null, output);
        });
      },
    },
  } as unknown as Docker;
  return { docker, calls };
}

const IMAGE = "ghcr.io/openwrt/imagebuilder:ath79-generic-v24.10.0";
const offline: Registry = { pull: () => ({ error: new Error("connect ECONNREFUSED") }) };

describe("ensureImage", () => {
  it("always: pulls, and takes what the pull brought", async () => {
    const { docker, calls } = fakeDocker(new Set(), {
      pull: () => ({ lines: [{ status: "Pulling" }, { status: "Done" }], adds: true }),
    });
    await ensureImage(docker, IMAGE, { policy: "always" });
    expect(calls).toEqual([`pull ${IMAGE}`, `inspect ${IMAGE}`]);
  });

  it("always: falls back to the local image when the registry fails, and says so", async () => {
    const errors: string[] = [];
    for (const registry of [
      offline,
      { pull: () => ({ lines: [{ error: "manifest unknown" }] }) },
    ] satisfies Registry[]) {
      const { docker } = fakeDocker(new Set([IMAGE]), registry);
      await ensureImage(docker, IMAGE, {
        policy: "always",
        onPullError: (error) => errors.push(error.message),
      });
    }
    expect(errors).toEqual(["connect ECONNREFUSED", "manifest unknown"]);
  });

  it("missing: pulls only an absent image, and answers the image's id", async () => {
    const present = fakeDocker(new Set([IMAGE]), offline);
    expect(await ensureImage(present.docker, IMAGE, { policy: "missing" })).toBe(IMAGE);
    expect(present.calls).toEqual([`inspect ${IMAGE}`]);
    const absent = fakeDocker(new Set(), { pull: () => ({ adds: true }) });
    expect(await ensureImage(absent.docker, IMAGE, { policy: "missing" })).toBe(IMAGE);
    expect(absent.calls).toEqual([`inspect ${IMAGE}`, `pull ${IMAGE}`, `inspect ${IMAGE}`]);
  });

  it("never: does not pull at all", async () => {
    const { docker, calls } = fakeDocker(new Set([IMAGE]), offline);
    await ensureImage(docker, IMAGE, { policy: "never" });
    expect(calls).toEqual([`inspect ${IMAGE}`]);
  });

  it("interval: asks the registry only when this build may, else takes the local copy", async () => {
    const checks: string[] = [];
    const allowed = fakeDocker(new Set([IMAGE]), {
      pull: () => ({ lines: [{ status: "Done" }], adds: true }),
    });
    await ensureImage(allowed.docker, IMAGE, {
      policy: "interval",
      mayCheckRegistry: async () => true,
      onRegistryCheck: (outcome) => checks.push(outcome),
    });
    expect(allowed.calls).toEqual([`pull ${IMAGE}`, `inspect ${IMAGE}`]);

    const later = fakeDocker(new Set([IMAGE]), offline);
    await ensureImage(later.docker, IMAGE, {
      policy: "interval",
      mayCheckRegistry: async () => false,
      onRegistryCheck: (outcome) => checks.push(outcome),
    });
    expect(later.calls).toEqual([`inspect ${IMAGE}`]);

    // Not local and not this build's turn: missing until the next check.
    const absent = fakeDocker(new Set(), { pull: () => ({ adds: true }) });
    const failure = await ensureImage(absent.docker, IMAGE, {
      policy: "interval",
      mayCheckRegistry: async () => false,
    }).catch((error) => error);
    expect(failure).toBeInstanceOf(BuildFailure);
    expect(failure.signals).toEqual({ imageMissing: true });
    expect(absent.calls).toEqual([`inspect ${IMAGE}`]);

    const unreachable = fakeDocker(new Set([IMAGE]), offline);
    await ensureImage(unreachable.docker, IMAGE, {
      policy: "interval",
      mayCheckRegistry: async () => true,
      onRegistryCheck: (outcome) => checks.push(outcome),
    });
    expect(checks).toEqual(["pulled", "failed"]);
  });

  it("fails with the contract's message when the image is nowhere", async () => {
    const message = `Error: Image not found: ${IMAGE}. If this version was just released, please try again in a few hours as it may take some time to become fully available.`;
    for (const policy of ["interval", "always", "missing", "never"] as const) {
      const { docker } = fakeDocker(new Set(), offline);
      const failure = await ensureImage(docker, IMAGE, { policy }).catch((error) => error);
      expect(failure).toBeInstanceOf(BuildFailure);
      expect(failure.detail).toBe(message);
    }
    // A pull that "succeeds" without bringing the image is no image either.
    const { docker } = fakeDocker(new Set(), { pull: () => ({ lines: [{ status: "ok" }] }) });
    await expect(ensureImage(docker, IMAGE, { policy: "always" })).rejects.toThrow(message);
  });

  it("shares one pull between builds of the same image", async () => {
    const { docker, calls } = fakeDocker(new Set(), { pull: () => ({ adds: true }) });
    await Promise.all([
      ensureImage(docker, IMAGE, { policy: "always" }),
      ensureImage(docker, IMAGE, { policy: "always" }),
    ]);
    expect(calls.filter((call) => call.startsWith("pull"))).toEqual([`pull ${IMAGE}`]);
  });
});
