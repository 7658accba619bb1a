import { rm } from "node:fs/promises";
import { posix } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import type Docker from "dockerode";
import { extract } from "tar-stream";
import {
  BUILD_DIR,
  BUILD_LABEL,
  type BuildContainerSpec,
  buildContainerName,
  buildContainerOptions,
  buildOf,
  QUEUE_LABEL,
  WARM_BUILD,
  WARM_IDLE_SECONDS,
  WORKER_LABEL,
} from "./build-container.ts";
import { CappedOutput, DEFAULT_OUTPUT_LIMIT } from "./capped-output.ts";
import type { WarmContainer } from "./container-pool.ts";
import { type ImageFacts, workerImageFacts } from "./image-facts.ts";
import { INFO_COMMAND } from "./imagebuilder-commands.ts";
import { type ExtractResult, extractTar, OutputTooLarge } from "./tar-extract.ts";
import { type ContainerFile, type FileOwner, packFiles } from "./tar-pack.ts";

export {
  BUILD_DIR,
  BUILD_LABEL,
  QUEUE_LABEL,
  WARM_BUILD,
  WORKER_LABEL,
} from "./build-container.ts";

import { isNotFound } from "./podman-errors.ts";

export const BUILD_USER = "buildbot";
/** buildbot's ids in the ImageBuilder images, used when `id` cannot tell. */
const FALLBACK_OWNER: FileOwner = { uid: 1000, gid: 1000 };
/** profiles.json and repository files are small; anything bigger is not what we asked for. */
const READ_FILE_LIMIT = 16 * 1024 * 1024;
const OWNER_COMMAND = ["sh", "-c", "id -u; id -g"] as const;
/**
 * Commands that only read the image: in a container no other command has
 * changed, they answer the same for every build of the image. Files the
 * session writes (keys, repositories, first-boot script) do not change
 * what they print.
 */
const READ_ONLY_COMMANDS = new Set([INFO_COMMAND, OWNER_COMMAND].map((argv) => argv.join("\0")));

/** The container (image, labels, lifetime, network, sandbox) and how this session runs in it. */
export interface SessionOptions extends BuildContainerSpec {
  /** Aborting it ends every running command at once. */
  signal?: AbortSignal;
  outputLimitBytes?: number;
  /** What images answered before; the worker's shared cache by default. */
  facts?: ImageFacts;
  /** The id `image` resolved to: the container is created from exactly it, and nobody asks again. */
  imageId?: string;
  /** A started, never-used container of this image to build in instead of a new one. */
  warm?: WarmContainer;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** A command that stops halfway for an answer: see ImagebuilderSession.execWithAnswer. */
export interface Handshake {
  /** The line the command prints to stdout and to stderr when it waits for its answer. */
  marker: string;
  /** Told the output before the marker; its line goes to the command's stdin. */
  answer(before: { stdout: string; stderr: string }): Promise<string>;
}

/** A handshake command's outcome: `before` is absent when it ended before asking. */
export interface HandshakeResult extends ExecResult {
  before?: { stdout: string; stderr: string };
}

export interface ExecOptions {
  env?: Record<string, string>;
  /** buildbot unless said otherwise. */
  user?: string;
}

/** One build's ImageBuilder container, driven only through the container API. */
export interface ImagebuilderSession {
  readonly containerId: string;
  /** Runs a command as buildbot in /builder. */
  exec(argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /**
   * Runs a command that prints `marker` and waits for one line on stdin:
   * two steps with an answer in between, in one exec. stdout and stderr of
   * the result are what came after the marker.
   */
  execWithAnswer(
    argv: readonly string[],
    handshake: Handshake,
    options?: ExecOptions,
  ): Promise<HandshakeResult>;
  /** Writes files below `dir` (absolute, in the container), owned by buildbot. */
  putFiles(dir: string, files: readonly ContainerFile[]): Promise<void>;
  exists(path: string): Promise<boolean>;
  /** A file's text, or undefined when there is no such file. */
  readFile(path: string): Promise<string | undefined>;
  /** Copies a container directory's content into `hostDir`; OutputTooLarge past `maxBytes`. */
  copyOut(dir: string, hostDir: string, maxBytes?: number): Promise<ExtractResult>;
  /** Kills and removes the container; safe to call any number of times. */
  remove(): Promise<void>;
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error("aborted");
}

/** Rejects as soon as the signal aborts, so no container call outlives its build. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

function streamEnded(stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.once("end", resolve);
    stream.once("close", resolve);
    stream.once("error", reject);
  });
}

/** An exec's final state: its stream can end a moment before the exec is marked finished. */
async function finishedExec(
  execution: Docker.Exec,
  signal: AbortSignal | undefined,
): Promise<Docker.ExecInspectInfo> {
  let info = await untilAborted(execution.inspect(), signal);
  for (let tries = 0; info.Running && tries < 500; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    info = await untilAborted(execution.inspect(), signal);
  }
  return info;
}

/** The first regular file of an archive; undefined when it holds none (a directory). */
async function readSingleFile(archive: Readable, limit: number): Promise<string | undefined> {
  const entries = extract();
  archive.pipe(entries);
  const chunks: Buffer[] = [];
  let size = 0;
  let found = false;
  for await (const entry of entries) {
    if (entry.header.type !== "file" || found) {
      entry.resume();
      continue;
    }
    found = true;
    for await (const chunk of entry) {
      size += (chunk as Buffer).length;
      if (size > limit) {
        archive.destroy();
        throw new Error(`File larger than ${limit} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
  }
  return found ? Buffer.concat(chunks).toString("utf8") : undefined;
}

/** One open session's container and what its steps share. */
interface Session {
  docker: Docker;
  container: Docker.Container;
  signal: AbortSignal | undefined;
  outputLimit: number;
  /** Whether the image is still untouched: what it answered may be kept (see `remembered`). */
  touched: { commandRan: boolean; filesWritten: boolean };
}

/** What an exec said so far; after a handshake's marker, what came after it. */
interface Captured {
  stdout: CappedOutput;
  stderr: CappedOutput;
  before?: { stdout: string; stderr: string };
  answering?: Promise<void>;
}

async function startExec(
  s: Session,
  argv: readonly string[],
  execOptions: ExecOptions,
  handshake: Handshake | undefined,
) {
  const execution = await untilAborted(
    s.container.exec({
      Cmd: [...argv],
      Env: Object.entries(execOptions.env ?? {}).map(([key, value]) => `${key}=${value}`),
      User: execOptions.user ?? BUILD_USER,
      WorkingDir: BUILD_DIR,
      AttachStdin: Boolean(handshake),
      AttachStdout: true,
      AttachStderr: true,
    }),
    s.signal,
  );
  const stream = (await untilAborted(
    execution.start({ hijack: true, stdin: Boolean(handshake) }),
    s.signal,
  )) as NodeJS.ReadWriteStream & { destroy(): void };
  return { execution, stream };
}

/**
 * Watches both streams for the handshake's marker. The command waits on
 * stdin once it printed the marker to both, so the marker is the last thing
 * each stream has said: then the output so far is `before`, and the answer
 * goes to stdin. A failed answer is passed to `failAnswer`.
 */
function handshakeWatcher(
  s: Session,
  stream: NodeJS.WritableStream,
  captured: Captured,
  handshake: Handshake | undefined,
  failAnswer: (error: unknown) => void,
) {
  const mark = handshake ? Buffer.from(`${handshake.marker}\n`) : undefined;
  const waiting = { out: false, err: false };
  const tails = { out: Buffer.alloc(0), err: Buffer.alloc(0) };
  return (which: "out" | "err", chunk: Buffer) => {
    if (!mark || !handshake || captured.before) return;
    tails[which] = Buffer.concat([tails[which], chunk]).subarray(-mark.length);
    waiting[which] = tails[which].equals(mark);
    if (!waiting.out || !waiting.err) return;
    const strip = (text: string) => text.slice(0, text.length - mark.length);
    const before = { stdout: strip(captured.stdout.text()), stderr: strip(captured.stderr.text()) };
    captured.before = before;
    captured.stdout = new CappedOutput(s.outputLimit);
    captured.stderr = new CappedOutput(s.outputLimit);
    captured.answering = handshake.answer(before).then(
      (line) => {
        stream.write(`${line}\n`);
      },
      (error: unknown) => {
        // An empty answer stops the command; the build ends with the error.
        stream.write("\n");
        failAnswer(error);
        throw error;
      },
    );
    captured.answering.catch(() => {});
  };
}

async function execute(
  s: Session,
  argv: readonly string[],
  execOptions: ExecOptions,
  handshake?: Handshake,
): Promise<HandshakeResult> {
  const { execution, stream } = await startExec(s, argv, execOptions, handshake);
  const captured: Captured = {
    stdout: new CappedOutput(s.outputLimit),
    stderr: new CappedOutput(s.outputLimit),
  };
  let failAnswer: (error: unknown) => void = () => {};
  // A failed answer ends the exec at once.
  const answerFailed = new Promise<never>((_, reject) => {
    failAnswer = reject;
  });
  answerFailed.catch(() => {});
  const watch = handshakeWatcher(s, stream, captured, handshake, (error) => failAnswer(error));
  const outSink = new PassThrough().on("data", (chunk: Buffer) => {
    captured.stdout.push(chunk);
    watch("out", chunk);
  });
  const errSink = new PassThrough().on("data", (chunk: Buffer) => {
    captured.stderr.push(chunk);
    watch("err", chunk);
  });
  s.docker.modem.demuxStream(stream, outSink, errSink);
  try {
    await untilAborted(Promise.race([streamEnded(stream), answerFailed]), s.signal);
    await captured.answering;
  } finally {
    stream.destroy();
  }
  const info = await finishedExec(execution, s.signal);
  const { before } = captured;
  return {
    exitCode: info.ExitCode ?? -1,
    stdout: captured.stdout.text(),
    stderr: captured.stderr.text(),
    ...(before && { before }),
  };
}

/**
 * The directory as a tar the container's own `tar` writes to an exec's stdout,
 * far cheaper than the archive API and unpacked as untrusted the same way.
 * Undefined when tar failed or is missing: the caller uses the archive API.
 */
async function tarThroughExec(
  s: Session,
  dir: string,
  hostDir: string,
  options: { stripComponents: number; maxBytes?: number },
): Promise<ExtractResult | undefined> {
  s.touched.commandRan = true;
  const execution = await s.container.exec({
    Cmd: ["tar", "-cf", "-", "-C", posix.dirname(dir), posix.basename(dir)],
    User: BUILD_USER,
    WorkingDir: BUILD_DIR,
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = (await execution.start({
    hijack: true,
    stdin: false,
  })) as NodeJS.ReadableStream & {
    destroy(): void;
  };
  const tar = new PassThrough();
  const stderr = new CappedOutput(s.outputLimit);
  const errSink = new PassThrough().on("data", (chunk: Buffer) => stderr.push(chunk));
  s.docker.modem.demuxStream(stream, tar, errSink);
  // demuxStream writes whatever arrives: the socket waits while the unpacking lags,
  // so no more than a buffer's worth of a large output is held in memory.
  stream.on("data", () => {
    if (!tar.writableNeedDrain || stream.isPaused()) return;
    stream.pause();
    tar.once("drain", () => stream.resume());
  });
  const ended = streamEnded(stream).then(() => {
    tar.end();
  });
  ended.catch((error: unknown) => tar.destroy(error as Error));
  let result: ExtractResult;
  try {
    result = await extractTar(tar, hostDir, options);
  } catch (error) {
    if (error instanceof OutputTooLarge) throw error;
    return undefined;
  } finally {
    stream.destroy();
  }
  const info = await finishedExec(execution, undefined);
  return info.ExitCode === 0 ? result : undefined;
}

async function pathExists(s: Session, path: string): Promise<boolean> {
  try {
    const answer = (await untilAborted(s.container.infoArchive({ path }), s.signal)) as {
      resume?: () => void;
    };
    answer.resume?.();
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

async function readContainerFile(s: Session, path: string): Promise<string | undefined> {
  let archive: Readable;
  try {
    archive = (await untilAborted(s.container.getArchive({ path }), s.signal)) as Readable;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  return untilAborted(readSingleFile(archive, READ_FILE_LIMIT), s.signal);
}

async function copyOut(s: Session, dir: string, hostDir: string, maxBytes?: number) {
  const options = { stripComponents: 1, maxBytes };
  const piped = await untilAborted(tarThroughExec(s, dir, hostDir, options), s.signal);
  if (piped) return piped;
  await rm(hostDir, { recursive: true, force: true });
  const archive = (await untilAborted(s.container.getArchive({ path: dir }), s.signal)) as Readable;
  return untilAborted(extractTar(archive, hostDir, options), s.signal);
}

/**
 * The build container, started: a new one, or a warm one of the same image
 * renamed after its build. A dead attempt's container of the same hash is
 * removed beside it; `remove` kills and removes it (safe to call again).
 */
async function startContainer(docker: Docker, options: SessionOptions) {
  const { signal, warm } = options;
  // The job id is the hash and a job runs once at a time, so a container
  // already of it is a dead attempt's (its worker was killed). Looked for
  // while the new one is created, which is then told apart by id.
  const listing = listBuildContainers(docker, options.requestHash);
  listing.catch(() => {});
  const container = warm
    ? docker.getContainer(warm.id)
    : await docker.createContainer(
        buildContainerOptions({ ...options, image: options.imageId ?? options.image }),
      );

  let staleRemoval: Promise<unknown> = Promise.resolve();
  let removal: Promise<void> | undefined;
  const remove = (): Promise<void> => {
    removal ??= Promise.all([
      container.remove({ force: true, v: true }).then(
        () => undefined,
        (error: unknown) => {
          if (!isNotFound(error)) throw error;
        },
      ),
      staleRemoval.catch(() => {}),
    ]).then(() => undefined);
    return removal;
  };

  // Exactly the image this container runs, whatever its tag points at by now.
  const knownImageId = warm?.imageId ?? options.imageId;
  const imageId: Promise<string | undefined> = knownImageId
    ? Promise.resolve(knownImageId)
    : container.inspect().then(
        (info) => info.Image || undefined,
        () => undefined,
      );
  const removeStale = async () => {
    const stale = (await listing).filter((info) => info.Id !== container.id);
    await removeContainers(docker, stale);
  };
  try {
    if (warm) {
      // Started already. Named after its build (its label cannot change), so
      // the sweep and a later attempt find it; that and removing a dead
      // attempt's container go beside the build.
      staleRemoval = Promise.all([
        container.rename({ name: buildContainerName(options.requestHash) }),
        removeStale(),
      ]);
      staleRemoval.catch(() => {});
    } else {
      await untilAborted(Promise.all([container.start(), removeStale(), imageId]), signal);
    }
  } catch (error) {
    await remove().catch(() => {});
    throw error;
  }
  return { container, imageId, remove };
}

/**
 * Answers of the untouched image are kept by image id: read-only commands
 * until another command ran, files and their presence until anything was
 * written or run.
 */
function imageMemory(facts: ImageFacts, imageId: Promise<string | undefined>) {
  return async function remembered<T>(
    question: string,
    usable: boolean,
    ask: () => Promise<T>,
    keep: (value: T) => boolean = () => true,
  ): Promise<T> {
    const id = usable ? await imageId : undefined;
    if (!id) return ask();
    const known = facts.get<T>(id, question);
    if (known) return known.value;
    const value = await ask();
    if (keep(value)) facts.set(id, question, value);
    return value;
  };
}

/**
 * Creates and starts the build container (see buildContainerOptions for its
 * limits), or takes over a warm one of the same image (container-pool.ts).
 */
export async function openImagebuilderSession(
  docker: Docker,
  options: SessionOptions,
): Promise<ImagebuilderSession> {
  const { container, imageId, remove } = await startContainer(docker, options);
  const s: Session = {
    docker,
    container,
    signal: options.signal,
    outputLimit: options.outputLimitBytes ?? DEFAULT_OUTPUT_LIMIT,
    touched: { commandRan: false, filesWritten: false },
  };
  const { touched } = s;
  const remembered = imageMemory(options.facts ?? workerImageFacts, imageId);
  const untouched = () => !touched.commandRan && !touched.filesWritten;

  function exec(argv: readonly string[], execOptions: ExecOptions = {}): Promise<ExecResult> {
    const readOnly = READ_ONLY_COMMANDS.has(argv.join("\0")) && !execOptions.env;
    if (!readOnly) {
      touched.commandRan = true;
      return execute(s, argv, execOptions);
    }
    return remembered(
      `exec:${argv.join(" ")}`,
      !touched.commandRan,
      () => execute(s, argv, execOptions),
      (result) => result.exitCode === 0,
    );
  }

  let owner: Promise<FileOwner> | undefined;
  async function buildbotOwner(): Promise<FileOwner> {
    const { exitCode, stdout } = await exec(OWNER_COMMAND);
    const [uid, gid] = stdout.trim().split(/\s+/).map(Number);
    if (exitCode !== 0 || !Number.isInteger(uid) || !Number.isInteger(gid)) return FALLBACK_OWNER;
    return { uid: uid as number, gid: gid as number };
  }

  return {
    containerId: container.id,
    exec,

    execWithAnswer(argv, handshake, execOptions = {}) {
      touched.commandRan = true;
      return execute(s, argv, execOptions, handshake);
    },

    async putFiles(dir, files) {
      if (files.length === 0) return;
      owner ??= buildbotOwner();
      const archive = await packFiles(files, await owner);
      touched.filesWritten = true;
      await untilAborted(container.putArchive(archive, { path: dir }), s.signal);
    },

    exists: (path) => remembered(`exists:${path}`, untouched(), () => pathExists(s, path)),

    async readFile(path) {
      const text = await remembered(
        `file:${path}`,
        untouched(),
        async () => (await readContainerFile(s, path)) ?? null,
      );
      return text ?? undefined;
    },

    copyOut: (dir, hostDir, maxBytes) => copyOut(s, dir, hostDir, maxBytes),

    remove,
  };
}

/** Removes every container of one build, whichever worker made it. */
export async function removeBuildContainers(
  docker: Docker,
  requestHash: string,
): Promise<string[]> {
  return removeContainers(docker, await listBuildContainers(docker, requestHash));
}

/** The containers of one build: labelled with its hash, or warm ones named after it. */
export async function listBuildContainers(
  docker: Docker,
  requestHash: string,
): Promise<Docker.ContainerInfo[]> {
  // One listing of every build container: a label filter cannot match a name too.
  const containers = await docker.listContainers({ all: true, filters: { label: [BUILD_LABEL] } });
  return containers.filter((info) => buildOf(info) === requestHash);
}

/** Force-removes containers, one already gone counting as removed; returns their ids. */
async function removeContainers(
  docker: Docker,
  containers: readonly Docker.ContainerInfo[],
): Promise<string[]> {
  const removed: string[] = [];
  for (const info of containers) {
    try {
      await docker.getContainer(info.Id).remove({ force: true, v: true });
      removed.push(info.Id);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
  return removed;
}

export interface LeftoverOptions {
  /** Containers of this worker are removed whatever their age: it just (re)started. */
  workerId?: string;
  /** Any build container older than this is past its job's deadline. */
  olderThanSeconds: number;
  /** This worker's queue: its containers whose build runs nowhere are removed too. */
  queueId?: string;
  /** Which of these builds a worker of the queue runs now (runningBuilds). */
  running?: (requestHashes: readonly string[]) => Promise<Set<string>>;
  /** Which workers of the queue are online (their heartbeats): the others' warm containers go. */
  onlineWorkers?: () => Promise<Set<string>>;
  now?: number;
}

/**
 * Removes build containers nobody will finish: this worker id's, any older
 * than the job timeout, and this queue's whose build no worker runs (an idle
 * warm one goes with its worker). Returns the removed container ids.
 */
export async function removeLeftovers(docker: Docker, options: LeftoverOptions): Promise<string[]> {
  const now = options.now ?? Date.now();
  const containers = await docker.listContainers({
    all: true,
    filters: { label: [BUILD_LABEL] },
  });
  const sameQueue = (info: Docker.ContainerInfo) =>
    options.queueId !== undefined && info.Labels?.[QUEUE_LABEL] === options.queueId;
  // Warm and idle: no build yet (a taken one is named after its build).
  const isWarm = (info: Docker.ContainerInfo) => buildOf(info) === undefined;
  const hashes = [
    ...new Set(
      containers
        .filter((info) => sameQueue(info) && !isWarm(info))
        .map((info) => buildOf(info) ?? ""),
    ),
  ];
  // Read after the listing: a build that starts in between makes a container not listed.
  const running = options.running ? await options.running(hashes) : undefined;
  const online =
    options.onlineWorkers && containers.some((info) => sameQueue(info) && isWarm(info))
      ? await options.onlineWorkers()
      : undefined;
  const unfinishable = containers.filter((info) => {
    const ours = options.workerId !== undefined && info.Labels?.[WORKER_LABEL] === options.workerId;
    const age = now / 1000 - info.Created;
    if (isWarm(info)) {
      const expired = age > options.olderThanSeconds + WARM_IDLE_SECONDS;
      const orphaned =
        online !== undefined && sameQueue(info) && !online.has(info.Labels?.[WORKER_LABEL] ?? "");
      return ours || expired || orphaned;
    }
    const warmBefore = info.Labels?.[BUILD_LABEL] === WARM_BUILD ? WARM_IDLE_SECONDS : 0;
    const expired = age > options.olderThanSeconds + warmBefore;
    const orphaned = running !== undefined && sameQueue(info) && !running.has(buildOf(info) ?? "");
    return ours || expired || orphaned;
  });
  return removeContainers(docker, unfinishable);
}
