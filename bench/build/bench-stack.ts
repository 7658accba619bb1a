// The whole stack for the build-path benchmarks, torn down on every way out:
// normal end, a thrown error, Ctrl-C or SIGTERM.

import { removeBuildContainers } from "../../packages/build-worker/src/imagebuilder-session.ts";
import { type AsuStack, startAsuStack } from "../../test/support/asu-stack.ts";
import { FIXTURE_REVISION_24_10 } from "../../test/support/fake-upstream.ts";
import type { ImagebuilderDoubleOptions } from "../../test/support/imagebuilder-double.ts";
import { imagebuilderDoubleRef } from "../../test/support/imagebuilder-double.ts";
import { runPodman } from "../../test/support/podman-service.ts";

/** Its own repository, so benchmarks never retag the images of tests running beside them. */
export const BENCH_BASE_CONTAINER = "localhost/asu-bench/imagebuilder";

/** The opkg 24.10.0 ath79/generic double every build of the benchmarks uses. */
export const BENCH_IMAGE: Omit<ImagebuilderDoubleOptions, "baseContainer"> = {
  tag: "v24.10.0",
  flavour: "opkg",
  version: "24.10.0",
  revision: FIXTURE_REVISION_24_10,
  target: "ath79/generic",
};

export const BENCH_IMAGE_REF = imagebuilderDoubleRef({
  ...BENCH_IMAGE,
  baseContainer: BENCH_BASE_CONTAINER,
});

export interface BenchSession {
  stack: AsuStack;
  /** Containers of these builds are removed at the end, whatever state they are in. */
  trackBuild(requestHash: string): void;
  /** `podman run --name` containers to remove at the end (they are `--rm`, unless interrupted). */
  trackContainer(name: string): void;
  /** Runs before the stack stops, last registered first. */
  onCleanup(cleanup: () => Promise<void>): void;
  /**
   * Work that starts a process of its own (a `podman run`): an interrupted
   * benchmark waits for it before removing containers, or one created after
   * the removal would stay.
   */
  track<T>(work: Promise<T>): Promise<T>;
}

/** How long an interrupted benchmark waits for tracked work before cleaning up anyway. */
const TRACKED_WORK_GRACE_MS = 30_000;

async function quietly(what: string, work: () => Promise<unknown>): Promise<void> {
  try {
    await work();
  } catch (error) {
    console.error(`cleanup: ${what}: ${(error as Error).message}`);
  }
}

/** Starts the stack, runs the benchmark, and always cleans up after it. */
export async function withBenchStack<T>(run: (session: BenchSession) => Promise<T>): Promise<T> {
  let stack: AsuStack | undefined;
  const builds = new Set<string>();
  const containers = new Set<string>();
  const cleanups: (() => Promise<void>)[] = [];
  const inFlight = new Set<Promise<unknown>>();
  let stopping: Promise<void> | undefined;

  const stopAll = () => {
    stopping ??= (async () => {
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled(inFlight),
        new Promise((resolve) => {
          grace = setTimeout(resolve, TRACKED_WORK_GRACE_MS);
        }),
      ]);
      clearTimeout(grace);
      for (const cleanup of cleanups.reverse()) await quietly("cleanup", cleanup);
      if (!stack) return;
      const running = stack;
      for (const name of containers) {
        await quietly(`container ${name}`, () =>
          runPodman(running.podman.env, ["rm", "--force", "--ignore", name]),
        );
      }
      for (const hash of builds) {
        await quietly(`build ${hash}`, () => removeBuildContainers(running.docker, hash));
      }
      await quietly("stack", () => running.stop());
    })();
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`${signal}: cleaning up`);
    void stopAll().finally(() => process.exit(130));
  };
  const onCrash = (error: unknown) => {
    console.error(error);
    void stopAll().finally(() => process.exit(1));
  };
  // Output piped into `head` must not end the run before the clean-up.
  const ignore = () => {};
  process.stdout.on("error", ignore);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  process.once("uncaughtException", onCrash);
  process.once("unhandledRejection", onCrash);
  try {
    stack = await startAsuStack({
      baseContainer: BENCH_BASE_CONTAINER,
      images: [BENCH_IMAGE],
      // Several workers share this process, and a fixed metrics port would
      // collide with them and with whatever else runs on the machine.
      env: { METRICS_PORT: "0" },
    });
    return await run({
      stack,
      trackBuild: (hash) => builds.add(hash),
      trackContainer: (name) => containers.add(name),
      onCleanup: (cleanup) => cleanups.push(cleanup),
      track: (work) => {
        inFlight.add(work);
        const settled = () => inFlight.delete(work);
        work.then(settled, settled);
        return work;
      },
    });
  } finally {
    await stopAll();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("uncaughtException", onCrash);
    process.off("unhandledRejection", onCrash);
    process.stdout.off("error", ignore);
  }
}
