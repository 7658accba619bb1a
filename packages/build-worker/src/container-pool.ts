import type Docker from "dockerode";
import {
  type BuildContainerSpec,
  WARM_IDLE_SECONDS,
  warmContainerOptions,
} from "./build-container.ts";
import { isNotFound } from "./podman-errors.ts";

/*
 * Warm containers: creating and starting a build container is a large share
 * of a small build and independent of the request, so an image built again
 * gets its next container readied ahead, for one build of that image only.
 */

/** A started container no command has run in yet. */
export interface WarmContainer {
  id: string;
  /** The image id it was created from. */
  imageId: string;
}

export interface ContainerPoolOptions {
  docker: Docker;
  /** Everything of a build container but its image and request. */
  spec: Omit<BuildContainerSpec, "requestHash" | "image">;
  /** Most containers held, ready or being made: one per build slot. */
  size: number;
  /** How long a ready container waits for a build; WARM_IDLE_SECONDS by default. */
  idleMs?: number;
  /** Longest wait for one container to be created and started. */
  readyTimeoutMs?: number;
  /**
   * Whether this build slot likely takes a waiting build next: then a
   * build's successor is readied beside it, else when it ends. Without it,
   * always when it ends.
   */
  followed?: () => Promise<boolean>;
  onError?: (error: Error) => void;
}

export interface ContainerPool {
  /**
   * A ready container of this image id, handed out once; one still being
   * made for it is waited for (until it is started or fails, at most the
   * ready timeout, or until `signal` aborts). Undefined when there is none.
   */
  take(image: string, imageId: string, signal?: AbortSignal): Promise<WarmContainer | undefined>;
  /**
   * Told that a build of the image started; returns what to call when it ended.
   * Readies the image's next container beside it when `followed` says this slot
   * likely takes a waiting build next, else once it ended. Never waits.
   */
  building(image: string, imageId: string): () => void;
  /** Containers held: ready or being made. */
  readonly held: number;
  /** Removes every held container (Podman restarted, or the images are unknown). */
  discard(): Promise<void>;
  /** Takes no more work and removes everything it holds. */
  close(): Promise<void>;
}

interface Entry {
  image: string;
  imageId: string;
  /** Set once started. */
  id?: string;
  since: number;
  idleTimer?: NodeJS.Timeout;
  /** Settles once the container is started, failed, or given up on. */
  ready: Promise<void>;
  /** Left the pool while being made: remove it when it exists. */
  dropped: boolean;
  /** Promised to a build that waits for it to be started. */
  claimed: boolean;
}

const READY_TIMEOUT_MS = 60_000;
/** Images whose last build the pool remembers. */
const REMEMBERED_IMAGES = 256;

/** The pool's state, which its steps share. */
interface Pool {
  options: ContainerPoolOptions;
  idleMs: number;
  readyTimeoutMs: number;
  entries: Entry[];
  removals: Set<Promise<void>>;
  /**
   * When each image was last built: a container is readied only for an image
   * built again within the idle time. With many images, most are built once
   * in a while, and a container readied for those would be made for nothing.
   */
  lastBuilt: Map<string, number>;
  closed: boolean;
}

const report = (pool: Pool, error: unknown) => pool.options.onError?.(error as Error);

function removeContainer(pool: Pool, id: string): Promise<void> {
  const removal = pool.options.docker
    .getContainer(id)
    .remove({ force: true, v: true })
    .then(
      () => undefined,
      (error: unknown) => {
        if (!isNotFound(error)) report(pool, error);
      },
    );
  pool.removals.add(removal);
  void removal.finally(() => pool.removals.delete(removal));
  return removal;
}

function leave(pool: Pool, entry: Entry) {
  const index = pool.entries.indexOf(entry);
  if (index >= 0) pool.entries.splice(index, 1);
}

/** Out of the pool; its container removed now or as soon as it exists. */
function drop(pool: Pool, entry: Entry): Promise<void> {
  leave(pool, entry);
  clearTimeout(entry.idleTimer);
  entry.dropped = true;
  return entry.id ? removeContainer(pool, entry.id) : entry.ready;
}

/** A warm container created and started; removed again when it cannot start. */
async function startWarm(pool: Pool, imageId: string): Promise<string> {
  const container = await pool.options.docker.createContainer(
    warmContainerOptions({ ...pool.options.spec, image: imageId }),
  );
  try {
    await container.start();
  } catch (error) {
    await removeContainer(pool, container.id);
    throw error;
  }
  return container.id;
}

function make(pool: Pool, image: string, imageId: string) {
  const entry: Entry = {
    image,
    imageId,
    since: Date.now(),
    dropped: false,
    claimed: false,
    ready: Promise.resolve(),
  };
  pool.entries.push(entry);
  let timer: NodeJS.Timeout | undefined;
  const creating = startWarm(pool, imageId);
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`warm container not started within ${pool.readyTimeoutMs} ms`)),
      pool.readyTimeoutMs,
    );
  });
  // A creation that answers after its timeout still leaves a container: removed then.
  creating.then(
    (id) => {
      if (entry.dropped) void removeContainer(pool, id);
    },
    () => {},
  );
  entry.ready = Promise.race([creating, timedOut]).then(
    (id) => {
      clearTimeout(timer);
      if (entry.dropped) return;
      entry.id = id;
      entry.idleTimer = setTimeout(() => void drop(pool, entry), pool.idleMs);
      entry.idleTimer.unref();
    },
    (error: unknown) => {
      clearTimeout(timer);
      if (!entry.dropped) report(pool, error);
      entry.dropped = true;
      leave(pool, entry);
    },
  );
}

/** Another id under the same name: the image was pulled anew, its old containers are of no use. */
function dropOutdated(pool: Pool, image: string, imageId: string) {
  for (const entry of pool.entries.filter((e) => e.image === image && e.imageId !== imageId)) {
    void drop(pool, entry);
  }
}

async function dropAll(pool: Pool) {
  await Promise.all([...pool.entries].map((entry) => drop(pool, entry)));
  await Promise.all([...pool.removals]);
}

/** Out of the pool, to its build. */
function handOut(pool: Pool, entry: Entry): WarmContainer | undefined {
  if (entry.dropped || entry.id === undefined) return undefined;
  pool.entries.splice(pool.entries.indexOf(entry), 1);
  clearTimeout(entry.idleTimer);
  return { id: entry.id, imageId: entry.imageId };
}

/** A container for the image's next build, if there is room or room can be made. */
function ready(pool: Pool, image: string, imageId: string) {
  if (pool.closed) return;
  if (pool.entries.length >= pool.options.size) {
    // Room from the longest idle ready container of another image, if any.
    const evictable = pool.entries
      .filter((e) => e.imageId !== imageId && e.id !== undefined && !e.claimed)
      .sort((a, b) => a.since - b.since)[0];
    if (!evictable) return;
    void drop(pool, evictable);
  }
  make(pool, image, imageId);
}

async function take(pool: Pool, image: string, imageId: string, signal?: AbortSignal) {
  dropOutdated(pool, image, imageId);
  const mine = pool.entries.filter((e) => e.imageId === imageId && !e.claimed);
  const started = mine.find((e) => e.id !== undefined);
  if (started) return handOut(pool, started);
  // Being made since before this build asked: sooner than one of its own.
  const making = mine[0];
  if (!making || signal?.aborted) return undefined;
  making.claimed = true;
  let onAbort = () => {};
  const aborted = new Promise<void>((resolve) => {
    onAbort = resolve;
    signal?.addEventListener("abort", onAbort, { once: true });
  });
  await Promise.race([making.ready, aborted]);
  signal?.removeEventListener("abort", onAbort);
  if (signal?.aborted) {
    making.claimed = false;
    return undefined;
  }
  return handOut(pool, making);
}

/** Stamps the image's build; true when it was built before within the idle time. */
function builtAgain(pool: Pool, imageId: string): boolean {
  const now = Date.now();
  const previous = pool.lastBuilt.get(imageId);
  pool.lastBuilt.delete(imageId);
  pool.lastBuilt.set(imageId, now);
  if (pool.lastBuilt.size > REMEMBERED_IMAGES) {
    pool.lastBuilt.delete(pool.lastBuilt.keys().next().value as string);
  }
  return previous !== undefined && now - previous <= pool.idleMs;
}

function building(pool: Pool, image: string, imageId: string): () => void {
  if (pool.closed || pool.options.size < 1) return () => {};
  const again = builtAgain(pool, imageId);
  dropOutdated(pool, image, imageId);
  if (!again) return () => {};
  let readied = false;
  const readyOnce = () => {
    if (readied) return;
    readied = true;
    ready(pool, image, imageId);
  };
  pool.options.followed?.().then(
    (followed) => {
      if (followed) readyOnce();
    },
    (error) => report(pool, error),
  );
  return () => {
    // Readied beside another build of the image since, and not yet taken: enough.
    if (pool.entries.some((e) => e.imageId === imageId && !e.claimed)) readied = true;
    readyOnce();
  };
}

export function createContainerPool(options: ContainerPoolOptions): ContainerPool {
  const pool: Pool = {
    options,
    idleMs: options.idleMs ?? WARM_IDLE_SECONDS * 1000,
    readyTimeoutMs: options.readyTimeoutMs ?? READY_TIMEOUT_MS,
    entries: [],
    removals: new Set(),
    lastBuilt: new Map(),
    closed: false,
  };
  return {
    take: (image, imageId, signal) => take(pool, image, imageId, signal),
    building: (image, imageId) => building(pool, image, imageId),
    get held() {
      return pool.entries.length;
    },
    discard: () => dropAll(pool),
    async close() {
      pool.closed = true;
      await dropAll(pool);
    },
  };
}
