import { LRUCache } from "lru-cache";

/**
 * What a container of one image answers before anything changed in it: the
 * same for every build of the image, so asked once per image id instead of
 * once per build. An image id names its content, so a retagged or pulled
 * image is a new entry and never answered from an old one.
 */
export interface ImageFacts {
  get<T>(imageId: string, question: string): { value: T } | undefined;
  set(imageId: string, question: string, value: unknown): void;
}

/** `make info` of a target with hundreds of profiles is some 100 KiB; 32 MiB holds hundreds of images. */
export const IMAGE_FACTS_MAX_BYTES = 32 * 1024 * 1024;

/** Bounded by bytes, so no image (however many profiles it has) can grow it past the limit. */
export function createImageFacts(maxBytes = IMAGE_FACTS_MAX_BYTES): ImageFacts {
  const cache = new LRUCache<string, { value: unknown }>({
    maxSize: maxBytes,
    sizeCalculation: (entry, key) =>
      Math.max(1, key.length + (JSON.stringify(entry.value)?.length ?? 0)),
  });
  const keyOf = (imageId: string, question: string) => `${imageId}\u0000${question}`;
  return {
    get<T>(imageId: string, question: string) {
      return cache.get(keyOf(imageId, question)) as { value: T } | undefined;
    },
    set(imageId, question, value) {
      cache.set(keyOf(imageId, question), { value });
    },
  };
}

/** One per worker process: every build of the worker shares what its images answered. */
export const workerImageFacts: ImageFacts = createImageFacts();
