import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import {
  buildPackageList,
  checkPackagesVersions,
  checkRevision,
  keyFiles,
  packageSelectionError,
  packagesForBuild,
  parseMakeInfo,
  parseManifest,
} from "@asu/core";
import type { Logger, WorkerMetrics } from "@asu/observability";
import {
  type BuildJobData,
  type BuildProgress,
  type BuildResult,
  type BuildStage,
  type Heartbeat,
  jobRequest,
  recordDurations,
  recordExpiry,
} from "@asu/queue";
import { appendErrorLog, errorLogEntry, type StatsEntry, type StatsRecorder } from "@asu/stats";
import type { BuildStore } from "@asu/store";
import { type Job, UnrecoverableError, WaitingError } from "bullmq";
import type Docker from "dockerode";
import type { Redis } from "ioredis";
import type { BuildSandbox } from "./build-container.ts";
import {
  BuildFailure,
  FAILURE_DETAILS,
  imageBuildFailure,
  sandboxFailure,
} from "./build-failure.ts";
import { builtProfile, composeBuildResult } from "./build-result.ts";
import { classifyBuildError, errorSignals } from "./failure-signals.ts";
import { ensureImage, type ImagePullPolicy } from "./image-pull.ts";
import { selectImage } from "./image-selection.ts";
import {
  type BuildKey,
  buildKeyFiles,
  imagesToSign,
  signingCommand,
  signingEnvironment,
} from "./image-signing.ts";
import {
  binDir,
  DEFAULTS_PATH,
  INFO_COMMAND,
  imageCommand,
  manifestCommand,
  SETUP_COMMAND,
  setupEnvironment,
} from "./imagebuilder-commands.ts";
import {
  BUILD_DIR,
  type ExecResult,
  type ImagebuilderSession,
  openImagebuilderSession,
} from "./imagebuilder-session.ts";
import type { PodmanWatch } from "./podman-availability.ts";
import { claimRegistryCheck } from "./registry-check.ts";
import { REPOSITORY_FILES, updatedRepositoryFile } from "./repository-file.ts";
import { OutputTooLarge } from "./tar-extract.ts";

export interface BuildSettings {
  /** JOB_TIMEOUT: the whole build's limit, and the container's lifetime. */
  jobTimeoutSeconds: number;
  imagePull: ImagePullPolicy;
  /** IMAGE_PULL_INTERVAL: with `interval`, the least time between two registry checks of an image. */
  imagePullIntervalSeconds?: number;
  /** UPSTREAM_URL, handed to setup.sh: where it downloads an ImageBuilder. */
  upstreamUrl?: string;
  /** Podman network of build containers. */
  network: string;
  cacheUrl?: string;
  /**
   * Whether CACHE_URL answers now; when it does not, the repository file
   * keeps its direct URLs. Absent: the cache is taken to be there.
   */
  cacheReachable?: () => Promise<boolean>;
  buildKey?: BuildKey;
  /** BUILD_MEMORY, BUILD_CPUS, BUILD_DISK_MB, BUILD_OUTPUT_MAX_MB, BUILD_PIDS_LIMIT, BUILD_USERNS. */
  sandbox: BuildSandbox;
}

export interface BuildDependencies {
  docker: Docker;
  redis: Redis;
  store: BuildStore;
  /** `{PUBLIC_PATH}/store`: builds are copied next to their final place, then renamed in. */
  storeRoot: string;
  workerId: string;
  /** The queue's id (queueInstanceId), labelled on containers so any worker can tell leftovers. */
  queueId?: string;
  settings: BuildSettings;
  logger: Logger;
  heartbeat?: Heartbeat;
  /** Tells a failure of ours from an unreachable Podman API, whose builds are handed back. */
  podman?: Pick<PodmanWatch, "confirm">;
  /** Job outcomes, build and stage durations, busy/idle (Prometheus). */
  metrics?: WorkerMetrics;
  /** SERVER_STATS: successes, failures, builds per version, stage durations. */
  stats?: StatsRecorder;
  /**
   * Takes the container removal of a finished build, so the answer does not
   * wait for it (about a quarter of a small build); the worker awaits these
   * before it stops. Without it, removal is awaited in line.
   */
  afterBuild?: (cleanup: Promise<void>) => void;
}

/** What one build needs besides its job data. */
export interface BuildContext {
  deps: BuildDependencies;
  data: BuildJobData;
  log: Logger;
  stage(stage: BuildStage): Promise<void>;
  signal: AbortSignal;
}

/** The abort reasons a build tells apart. */
class BuildTimedOut extends Error {}
class WorkerStopping extends Error {}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(path), hash);
  return hash.digest("hex");
}

async function run(
  context: BuildContext,
  session: ImagebuilderSession,
  argv: readonly string[],
  env?: Record<string, string>,
): Promise<ExecResult> {
  const started = Date.now();
  const result = await session.exec(argv, { env });
  context.log.info(
    { command: argv.slice(0, 2).join(" "), exit_code: result.exitCode, ms: Date.now() - started },
    "imagebuilder command finished",
  );
  const limit = sandboxFailure(result.exitCode, result.stderr, context.deps.settings.sandbox);
  if (limit) throw new BuildFailure(limit, result.stdout, result.stderr);
  return result;
}

/** CACHE_URL while the cache answers; a build never fails for a cache that is down. */
async function usableCacheUrl(context: BuildContext): Promise<string | undefined> {
  const { cacheUrl, cacheReachable } = context.deps.settings;
  if (!cacheUrl) return undefined;
  if (!cacheReachable || (await cacheReachable())) return cacheUrl;
  context.log.warn(
    { cache_url: cacheUrl },
    "package cache unreachable: the ImageBuilder downloads from the direct URLs",
  );
  return undefined;
}

/**
 * Steps 3 and 4: setup.sh for snapshots and for releases built in a
 * snapshot image (it fetches the release's ImageBuilder), then keys,
 * repositories and defaults.
 */
async function prepareImagebuilder(
  context: BuildContext,
  session: ImagebuilderSession,
  runSetup: boolean,
) {
  const { data, deps } = context;
  const { request } = data;
  if (runSetup) {
    const setup = await run(
      context,
      session,
      SETUP_COMMAND,
      setupEnvironment(request.target, data.versionPath, deps.settings.upstreamUrl),
    );
    if (setup.exitCode !== 0) {
      throw new BuildFailure(FAILURE_DETAILS.setup(setup.exitCode), setup.stdout, setup.stderr, {
        step: "setup",
        exitCode: setup.exitCode,
        stderr: setup.stderr,
      });
    }
  }

  let keys: ReturnType<typeof keyFiles>;
  try {
    keys = keyFiles(request.repository_keys);
  } catch {
    throw new BuildFailure(FAILURE_DETAILS.repositoryKey);
  }
  const files = [...keys];
  if (request.defaults) files.push({ path: DEFAULTS_PATH, content: request.defaults });

  // apk ImageBuilders have /builder/repositories (snapshots only after setup.sh).
  const kind = (await session.exists(`${BUILD_DIR}/${REPOSITORY_FILES.apk}`)) ? "apk" : "opkg";
  const cacheUrl = await usableCacheUrl(context);
  const wantsRewrite = Object.keys(request.repositories).length > 0 || Boolean(cacheUrl);
  if (wantsRewrite) {
    const name = REPOSITORY_FILES[kind];
    const existing = (await session.readFile(`${BUILD_DIR}/${name}`)) ?? "";
    const content = updatedRepositoryFile(kind, existing, request, cacheUrl);
    if (content !== null) files.push({ path: name, content });
  }
  await session.putFiles(BUILD_DIR, files);
}

/** Signs the installable images in BIN_DIR; returns their names. */
async function signImages(
  context: BuildContext,
  session: ImagebuilderSession,
  key: BuildKey,
  images: unknown,
): Promise<string[]> {
  const names = imagesToSign(images);
  if (names.length === 0) return [];
  // The key enters the container only now, after every package script ran.
  await session.putFiles(BUILD_DIR, buildKeyFiles(key));
  const signing = await run(
    context,
    session,
    signingCommand(binDir(context.data.requestHash), names),
    signingEnvironment(),
  );
  if (signing.exitCode !== 0) {
    throw new BuildFailure(FAILURE_DETAILS.signing, signing.stdout, signing.stderr, {
      step: "signing",
      exitCode: signing.exitCode,
    });
  }
  return names;
}

/** The contract's worker steps 2 to 9 inside one container. */
async function buildInContainer(
  context: BuildContext,
  session: ImagebuilderSession,
  runSetup: boolean,
): Promise<BuildResult> {
  const { data, deps } = context;
  const { request, requestHash } = data;

  await prepareImagebuilder(context, session, runSetup);

  await context.stage("validate_revision");
  const infoRun = await run(context, session, INFO_COMMAND);
  if (infoRun.exitCode !== 0) {
    throw new BuildFailure(FAILURE_DETAILS.info(infoRun.exitCode), infoRun.stdout, infoRun.stderr, {
      step: "info",
      exitCode: infoRun.exitCode,
      stderr: infoRun.stderr,
    });
  }
  const info = parseMakeInfo(infoRun.stdout);
  const revisionError = checkRevision(info, request.version_code);
  if (revisionError) throw new BuildFailure(revisionError, infoRun.stdout, infoRun.stderr);

  await context.stage("validate_manifest");
  const packages = packagesForBuild(request, {
    skipPackageResolution: data.skipPackageResolution,
  });
  const profilePackages = info.profiles[request.profile]?.packages ?? [];
  const buildPackages = buildPackageList(
    packages,
    [...info.defaultPackages, ...profilePackages],
    request.diff_packages,
  );
  const manifestRun = await run(context, session, manifestCommand(request.profile, buildPackages));
  if (manifestRun.exitCode !== 0) {
    throw new BuildFailure(
      packageSelectionError(manifestRun.stderr),
      manifestRun.stdout,
      manifestRun.stderr,
      { step: "manifest", exitCode: manifestRun.exitCode, stderr: manifestRun.stderr },
    );
  }
  const manifest = parseManifest(manifestRun.stdout);
  const versionsError = checkPackagesVersions(manifest, request.packages_versions);
  if (versionsError) throw new BuildFailure(versionsError, manifestRun.stdout, manifestRun.stderr);

  await context.stage("building_image");
  const buildCmd = imageCommand({ request, packages: buildPackages, manifest, requestHash });
  const imageRun = await run(context, session, buildCmd);
  const imageFailure = imageBuildFailure(imageRun.exitCode, imageRun.stderr);
  if (imageFailure) {
    throw new BuildFailure(imageFailure, imageRun.stdout, imageRun.stderr, {
      step: "image",
      exitCode: imageRun.exitCode,
      stderr: imageRun.stderr,
    });
  }

  const key = deps.settings.buildKey;
  const staging = join(deps.storeRoot, `.tmp-${requestHash}-${randomBytes(4).toString("hex")}`);
  try {
    await mkdir(deps.storeRoot, { recursive: true });
    // One archive copy for everything: reading profiles.json on its own
    // would cost a second round trip through the container API. Signing
    // changes files in the container, so a signed build is copied after it.
    const copyOut = async () => {
      await rm(staging, { recursive: true, force: true });
      const maxMb = deps.settings.sandbox.outputMaxMb;
      const copied = await session
        .copyOut(binDir(requestHash), staging, maxMb * 1024 * 1024)
        .catch((error: unknown) => {
          if (error instanceof OutputTooLarge) {
            throw new BuildFailure(FAILURE_DETAILS.outputTooLarge(maxMb));
          }
          throw error;
        });
      if (copied.skipped.length > 0) {
        context.log.warn({ skipped: copied.skipped }, "left out entries that are not plain files");
      }
    };
    const readProfiles = async () =>
      key
        ? session.readFile(`${binDir(requestHash)}/profiles.json`)
        : readFile(join(staging, "profiles.json"), "utf8").catch(() => undefined);
    if (!key) await copyOut();

    const profilesText = await readProfiles();
    if (profilesText === undefined) {
      throw new BuildFailure(FAILURE_DETAILS.noJson, imageRun.stdout, imageRun.stderr);
    }
    let profilesJson: Record<string, unknown>;
    try {
      profilesJson = JSON.parse(profilesText);
    } catch {
      throw new BuildFailure(FAILURE_DETAILS.noJson, imageRun.stdout, imageRun.stderr);
    }
    const entry = builtProfile(profilesJson, request.profile);
    if (!entry) throw new BuildFailure(FAILURE_DETAILS.noProfile, imageRun.stdout, imageRun.stderr);

    const signed = key ? await signImages(context, session, key, entry.images) : [];
    if (key) await copyOut();

    const result = composeBuildResult({
      profilesJson,
      profile: request.profile,
      requestHash,
      manifest,
      buildCmd,
      buildCmdPackages: buildPackages,
    });
    // Signing changed the files after the ImageBuilder hashed them.
    for (const image of (result.images ?? []) as { name?: string; sha256?: string }[]) {
      if (image.name && signed.includes(image.name)) {
        image.sha256 = await sha256File(join(staging, image.name));
      }
    }
    await deps.store.save(requestHash, staging);
    return result;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** How long a failed build waits for the container's state before it is classified without it. */
const FATE_TIMEOUT_MS = 5_000;

/**
 * The failure with what the container's state says about it: OOM-killed,
 * or no longer running (killed under the command). Either is ours, whatever
 * the command printed. Unexpected errors become the contract's internal one.
 */
async function withContainerFate(
  docker: Docker,
  containerId: string,
  error: unknown,
): Promise<unknown> {
  let fate: { oomKilled?: boolean; containerDied?: boolean } = {};
  try {
    let timer: NodeJS.Timeout | undefined;
    const info = await Promise.race([
      docker.getContainer(containerId).inspect(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("no answer")), FATE_TIMEOUT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    if (info.State?.OOMKilled) fate = { oomKilled: true };
    else if (info.State && !info.State.Running) fate = { containerDied: true };
  } catch {
    // Gone or unreachable: the error itself says so.
  }
  if (!fate.oomKilled && !fate.containerDied) return error;
  if (error instanceof BuildFailure) {
    return new BuildFailure(error.detail, error.stdout, error.stderr, {
      ...error.signals,
      ...fate,
    });
  }
  return new BuildFailure(FAILURE_DETAILS.internal, "", "", {
    ...errorSignals(error),
    unexpected: true,
    ...fate,
  });
}

/** Steps 1 to 9: the image, a container for this build alone, and the build in it. */
export async function runBuild(context: BuildContext): Promise<BuildResult> {
  const { data, deps, signal } = context;
  await context.stage("container_setup");
  const { redis, settings } = deps;
  const selected = await selectImage(data, (image) =>
    ensureImage(deps.docker, image, {
      policy: settings.imagePull,
      signal,
      mayCheckRegistry: () =>
        claimRegistryCheck(redis, image, {
          intervalSeconds: settings.imagePullIntervalSeconds ?? 600,
          // Only the snapshot's own image is as new as upstream's snapshot.
          versionCode: image === data.image && data.snapshot ? data.upstreamVersionCode : undefined,
        }),
      onRegistryCheck: (outcome) => deps.metrics?.registryChecks.inc({ outcome }),
      onPullError: (error) =>
        context.log.warn({ image, err: error.message }, "pull failed, using local image"),
    }),
  );
  if (selected.fallback) {
    deps.metrics?.fallbackBuilds.inc();
    context.log.warn(
      { image: data.image, fallback_image: selected.image },
      "release image missing: building from the snapshot image",
    );
  }
  const session = await openImagebuilderSession(deps.docker, {
    image: selected.image,
    requestHash: data.requestHash,
    workerId: deps.workerId,
    queueId: deps.queueId,
    jobTimeoutSeconds: deps.settings.jobTimeoutSeconds,
    network: deps.settings.network,
    sandbox: deps.settings.sandbox,
    signal,
  });
  // A timeout or a shutdown stops whatever runs in the container at once.
  const removeNow = () => {
    session.remove().catch(() => {});
  };
  signal.addEventListener("abort", removeNow, { once: true });
  try {
    return await buildInContainer(context, session, data.snapshot || selected.fallback);
  } catch (error) {
    if (signal.aborted) throw error;
    throw await withContainerFate(deps.docker, session.containerId, error);
  } finally {
    signal.removeEventListener("abort", removeNow);
    const removal = session.remove().catch((error: Error) => {
      context.log.warn({ err: error.message }, "container removal failed");
    });
    if (deps.afterBuild) deps.afterBuild(removal);
    else await removal;
  }
}

type BuildJob = Job<BuildJobData, BuildResult>;

/**
 * Times the stages of one build: each stage ends when the next begins, the
 * last one when the build ends. Durations go to the stage histogram at once
 * and are kept for the statistics of a successful build.
 */
function stageClock(metrics: WorkerMetrics | undefined) {
  let current: { stage: BuildStage; since: number } | undefined;
  const timed: StatsEntry[] = [];
  const end = () => {
    if (!current) return;
    const seconds = (performance.now() - current.since) / 1000;
    metrics?.stageDuration.observe({ stage: current.stage }, seconds);
    timed.push({ kind: "stage", stage: current.stage, seconds });
    current = undefined;
  };
  return {
    enter(stage: BuildStage) {
      end();
      current = { stage, since: performance.now() };
    },
    /** Ends the running stage; the stage durations so far, as stats entries. */
    finish(): StatsEntry[] {
      end();
      return timed;
    },
  };
}

/** The stage entries of a build's statistics as durations for the wait estimates. */
const stageTimes = (entries: StatsEntry[]) =>
  entries.flatMap((entry) => (entry.kind === "stage" ? [entry] : []));

/** Classifier reasons that can mean the Podman API itself is gone: only these ask it. */
const PODMAN_REASONS = new Set([
  "podman_unreachable",
  "podman_timeout",
  "podman_error",
  "container_gone",
  "internal",
]);

/**
 * The BullMQ processor. Success stores the result as the job's return
 * value; failure leaves the contract's detail with the failing step's output
 * in the progress and fails the job with the detail as reason. When the
 * worker stops (BullMQ cancels the job) the build is handed back to the queue.
 */
export function createBuildProcessor(deps: BuildDependencies) {
  const timeoutSeconds = deps.settings.jobTimeoutSeconds;
  const { metrics } = deps;
  let running = 0;
  const setRunning = (delta: number) => {
    running += delta;
    metrics?.buildsRunning.set(running);
    metrics?.workerBusy.set(running > 0 ? 1 : 0);
  };
  const finished = (outcome: "success" | "failure" | "retried", seconds: number) => {
    metrics?.jobsFinished.inc({ outcome });
    metrics?.buildDuration.observe({ outcome }, seconds);
  };

  return async function processBuild(
    job: BuildJob,
    token: string | undefined,
    cancel: AbortSignal | undefined,
  ): Promise<BuildResult> {
    const data = { ...job.data, request: jobRequest(job.data) };
    const log = deps.logger.child({
      request_hash: data.requestHash,
      request_id: data.requestId ?? null,
    });
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new BuildTimedOut(`over ${timeoutSeconds} s`)),
      timeoutSeconds * 1000,
    );
    const onCancel = () => controller.abort(new WorkerStopping(String(cancel?.reason ?? "")));
    if (cancel?.aborted) onCancel();
    cancel?.addEventListener("abort", onCancel, { once: true });
    const progress = async (value: BuildProgress) => {
      await job.updateProgress(value as unknown as object);
    };
    const clock = stageClock(metrics);
    const context: BuildContext = {
      deps,
      data,
      log,
      signal: controller.signal,
      async stage(stage) {
        if (controller.signal.aborted) throw controller.signal.reason;
        clock.enter(stage);
        log.info({ stage }, "build stage");
        await progress({ imagebuilder_status: stage });
      },
    };

    const started = Date.now();
    deps.heartbeat?.buildStarted(data.requestHash);
    setRunning(1);
    log.info({ image: data.image, worker: deps.workerId }, "build started");
    try {
      await context.stage("init");
      const result = await runBuild(context);
      const stages = clock.finish();
      await progress({ imagebuilder_status: "done" });
      await recordExpiry(deps.redis, data.requestHash, Date.now(), data.resultTtl);
      log.info({ ms: Date.now() - started }, "build done");
      const seconds = (Date.now() - started) / 1000;
      finished("success", seconds);
      deps.stats?.record(
        { kind: "event", event: "successes" },
        { kind: "build", version: data.request.version },
        ...stages,
        { kind: "stage", stage: "total", seconds },
      );
      await deps.stats?.flush();
      await recordDurations(deps.redis, [...stageTimes(stages), { stage: "total", seconds }]).catch(
        (error: Error) => log.warn({ err: error.message }, "recording build durations failed"),
      );
      return result;
    } catch (error) {
      if (controller.signal.reason instanceof WorkerStopping) {
        log.warn("worker stopping: build handed back to the queue");
        metrics?.jobsFinished.inc({ outcome: "requeued" });
        await job.moveToWait(token);
        throw new WaitingError();
      }
      const timedOut = controller.signal.reason instanceof BuildTimedOut;
      const { failure, verdict } = classifyBuildError(error, {
        timedOutAfter: timedOut ? timeoutSeconds : undefined,
      });
      const ms = Date.now() - started;
      clock.finish();
      // A Podman API that does not answer is no verdict on anything: the
      // build goes back to the queue while this worker waits for it.
      if (PODMAN_REASONS.has(verdict.reason) && deps.podman && !(await deps.podman.confirm())) {
        log.warn(
          { reason: verdict.reason, ms },
          "podman unreachable: build handed back to the queue",
        );
        metrics?.jobsFinished.inc({ outcome: "requeued" });
        await job.updateProgress({ imagebuilder_status: "init" });
        await job.moveToWait(token);
        throw new WaitingError();
      }
      metrics?.buildFailures.inc({ kind: verdict.kind, reason: verdict.reason });
      const attempts = job.opts.attempts ?? 1;
      const retried = verdict.kind === "infrastructure" && job.attemptsMade + 1 < attempts;
      const logged = {
        detail: failure.detail,
        failure_kind: verdict.kind,
        failure_reason: verdict.reason,
        attempt: job.attemptsMade + 1,
        attempts,
        ms,
      };
      if (verdict.reason === "internal") {
        log.error({ err: error, ...logged }, "build failed unexpectedly");
      } else if (failure.detail === FAILURE_DETAILS.internal) {
        // Ours, and known (Podman, disk): the message is enough.
        log.warn({ err: (error as Error)?.message, ...logged }, "build failed");
      } else {
        log.info(logged, retried ? "build failed, will be retried" : "build failed");
      }
      finished(retried ? "retried" : "failure", ms / 1000);
      if (retried) {
        // BullMQ delays the job by the backoff; polls meanwhile answer "queued".
        await job.updateProgress({ imagebuilder_status: "init" });
        throw new Error(failure.detail);
      }
      deps.stats?.record(
        { kind: "event", event: "failures" },
        { kind: "event", event: `failures-${verdict.kind}` },
      );
      await deps.stats?.flush();
      await progress({
        imagebuilder_status: "failed",
        detail: failure.detail,
        stdout: failure.stdout,
        stderr: failure.stderr,
        failure_kind: verdict.kind,
        failure_reason: verdict.reason,
      });
      await appendErrorLog(
        deps.redis,
        errorLogEntry(data.request, failure.detail, Date.now(), verdict.kind),
      );
      await recordExpiry(deps.redis, data.requestHash, Date.now(), data.failureTtl);
      // The request's own failure is its answer: no attempt can change it.
      if (verdict.kind === "request") throw new UnrecoverableError(failure.detail);
      throw new Error(failure.detail);
    } finally {
      clearTimeout(timer);
      cancel?.removeEventListener("abort", onCancel);
      deps.heartbeat?.buildFinished(data.requestHash);
      setRunning(-1);
    }
  };
}
