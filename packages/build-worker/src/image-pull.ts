import type Docker from "dockerode";
import { BuildFailure, FAILURE_DETAILS } from "./build-failure.ts";
import { isNotFound } from "./podman-errors.ts";

export const IMAGE_PULL_POLICIES = ["interval", "always", "missing", "never"] as const;
export type ImagePullPolicy = (typeof IMAGE_PULL_POLICIES)[number];

export interface EnsureImageOptions {
  policy: ImagePullPolicy;
  /**
   * `interval`: whether this build may ask the registry now (see
   * claimRegistryCheck); without it every build may, as with `always`.
   */
  mayCheckRegistry?: () => Promise<boolean>;
  /** Told about every registry check: whether the pull succeeded. */
  onRegistryCheck?: (outcome: "pulled" | "failed") => void;
  /** Told about pulls that failed while a local copy could still be used. */
  onPullError?: (error: Error) => void;
  signal?: AbortSignal;
}

/** The local image's id; undefined when there is none. */
async function localImageId(docker: Docker, image: string): Promise<string | undefined> {
  try {
    return (await docker.getImage(image).inspect()).Id;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** Pulls and waits for the pull to finish; the progress stream carries the registry's errors. */
function pull(docker: Docker, image: string, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    docker.pull(image, {}, (error: Error | null, stream?: NodeJS.ReadableStream) => {
      if (error || !stream) return reject(error ?? new Error(`pull of ${image} gave no answer`));
      const onAbort = () => {
        (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      docker.modem.followProgress(stream, (failure: Error | null, output: unknown[]) => {
        signal?.removeEventListener("abort", onAbort);
        const reported = output
          ?.map((line) => (line as { error?: string } | null)?.error)
          .find((text) => typeof text === "string");
        if (failure) reject(failure);
        else if (reported) reject(new Error(reported));
        else resolve();
      });
    });
  });
}

// Several builds of one image at once share its pull.
const pulling = new Map<string, Promise<void>>();

function sharedPull(docker: Docker, image: string, signal?: AbortSignal): Promise<void> {
  let running = pulling.get(image);
  if (!running) {
    running = pull(docker, image, signal).finally(() => pulling.delete(image));
    pulling.set(image, running);
  }
  return running;
}

/**
 * Makes sure the ImageBuilder image is present as IMAGE_PULL says
 * (docs/operators.md), else throws the contract's `Image not found`.
 * Answers the image's id: the build's container is made from exactly it.
 */
export async function ensureImage(
  docker: Docker,
  image: string,
  options: EnsureImageOptions,
): Promise<string> {
  const { policy, signal } = options;
  const notFound = () =>
    new BuildFailure(FAILURE_DETAILS.imageNotFound(image), "", "", { imageMissing: true });
  const skipRegistry =
    policy === "never" ||
    (policy === "interval" && options.mayCheckRegistry && !(await options.mayCheckRegistry()));
  if (skipRegistry) {
    const id = await localImageId(docker, image);
    if (id) return id;
    throw notFound();
  }
  if (policy === "missing") {
    const id = await localImageId(docker, image);
    if (id) return id;
  }
  try {
    await sharedPull(docker, image, signal);
    options.onRegistryCheck?.("pulled");
  } catch (error) {
    if (signal?.aborted) throw error;
    options.onRegistryCheck?.("failed");
    options.onPullError?.(error as Error);
  }
  const id = await localImageId(docker, image);
  if (!id) throw notFound();
  return id;
}
