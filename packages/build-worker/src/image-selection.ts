import type { BuildJobData } from "@asu/queue";
import { BuildFailure } from "./build-failure.ts";

export interface SelectedImage {
  image: string;
  /** A snapshot image standing in for a release's: setup.sh must fetch the release. */
  fallback: boolean;
}

function isMissing(error: unknown): boolean {
  return error instanceof BuildFailure && error.signals.imageMissing === true;
}

/**
 * The image a build runs in: its own; for a release whose image does not
 * exist (yet), the first of its snapshot images that does. When none does,
 * the answer is the own image's `Image not found`.
 */
export async function selectImage(
  data: Pick<BuildJobData, "image" | "fallbackImages">,
  ensure: (image: string) => Promise<void>,
): Promise<SelectedImage> {
  try {
    await ensure(data.image);
    return { image: data.image, fallback: false };
  } catch (error) {
    if (!isMissing(error)) throw error;
    for (const candidate of data.fallbackImages ?? []) {
      try {
        await ensure(candidate);
        return { image: candidate, fallback: true };
      } catch (fallbackError) {
        if (!isMissing(fallbackError)) throw fallbackError;
      }
    }
    throw error;
  }
}
