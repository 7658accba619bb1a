import type { BuildJobData } from "@asu/queue";
import { BuildFailure } from "./build-failure.ts";

export interface SelectedImage {
  image: string;
  /** The id `image` resolved to. */
  imageId: string;
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
  /** Makes sure the image is there; its id. */
  ensure: (image: string) => Promise<string>,
): Promise<SelectedImage> {
  try {
    return { image: data.image, imageId: await ensure(data.image), fallback: false };
  } catch (error) {
    if (!isMissing(error)) throw error;
    for (const candidate of data.fallbackImages ?? []) {
      try {
        return { image: candidate, imageId: await ensure(candidate), fallback: true };
      } catch (fallbackError) {
        if (!isMissing(fallbackError)) throw fallbackError;
      }
    }
    throw error;
  }
}
