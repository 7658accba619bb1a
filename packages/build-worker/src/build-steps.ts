/*
 * One build, step by step as the contract lists the worker's steps, with no
 * BullMQ in sight: build-processor.ts takes a job from the queue, hands it
 * here, and turns what comes back into the job's result or failure.
 */

import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { manifestHash } from "@asu/contract";
import {
  checkPackagesVersions,
  checkRevision,
  keyFiles,
  type MakeInfo,
  packageSelectionError,
  parseMakeInfo,
  parseManifest,
} from "@asu/imagebuilder-formats";
import type { Logger } from "@asu/observability";
import { buildPackageList } from "@asu/package-rules";
import type { BuildJobData, BuildResult, BuildStage } from "@asu/queue";
import type { BuildStore } from "@asu/store";
import type Docker from "dockerode";
import type { Redis } from "ioredis";
import type { BuildSandbox } from "./build-container.ts";
import {
  BuildFailure,
  exhaustionFailure,
  FAILURE_DETAILS,
  imageBuildFailure,
} from "./build-failure.ts";
import { builtProfile, composeBuildResult } from "./build-result.ts";
import type { ContainerPool } from "./container-pool.ts";
import { errorSignals } from "./failure-signals.ts";
import { ensureImage, type ImagePullPolicy } from "./image-pull.ts";
import { type SelectedImage, selectImage } from "./image-selection.ts";
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
  manifestThenImageCommand,
  SETUP_COMMAND,
  setupEnvironment,
} from "./imagebuilder-commands.ts";
import {
  BUILD_DIR,
  type ExecResult,
  type ImagebuilderSession,
  openImagebuilderSession,
} from "./imagebuilder-session.ts";
import { claimRegistryCheck } from "./registry-check.ts";
import { REPOSITORY_FILES, updatedRepositoryFile } from "./repository-file.ts";
import { OutputTooLarge } from "./tar-extract.ts";
import type { WorkerMetrics } from "./worker-metrics.ts";

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

/** What the steps use: the container API, Redis, the store, and the settings. */
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
  /** Registry checks and fallback builds (Prometheus). */
  metrics?: Pick<WorkerMetrics, "registryChecks" | "fallbackBuilds">;
  /**
   * Takes the container removal of a finished build, so the answer does not
   * wait for it (about a quarter of a small build); the worker awaits these
   * before it stops. Without it, removal is awaited in line.
   */
  afterBuild?: (cleanup: Promise<void>) => void;
  /** WARM_CONTAINERS: started containers of recent images, so a build need not wait for its own. */
  pool?: ContainerPool;
}

/** What one build needs besides its job data. */
export interface BuildContext {
  deps: BuildDependencies;
  data: BuildJobData;
  log: Logger;
  stage(stage: BuildStage): Promise<void>;
  signal: AbortSignal;
}

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
  const exhausted = exhaustionFailure(result, context.deps.settings.sandbox);
  if (exhausted) throw exhausted;
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

/** Step 5, `make info`: the ImageBuilder's profiles, checked to be the revision asked for. */
async function readInfo(context: BuildContext, session: ImagebuilderSession) {
  const infoRun = await run(context, session, INFO_COMMAND);
  if (infoRun.exitCode !== 0) {
    throw new BuildFailure(FAILURE_DETAILS.info(infoRun.exitCode), infoRun.stdout, infoRun.stderr, {
      step: "info",
      exitCode: infoRun.exitCode,
      stderr: infoRun.stderr,
    });
  }
  const info = parseMakeInfo(infoRun.stdout);
  const revisionError = checkRevision(info, context.data.request.version_code);
  if (revisionError) throw new BuildFailure(revisionError, infoRun.stdout, infoRun.stderr);
  return info;
}

/**
 * Step 6: the packages to build. The build tier applied the server-side
 * rules when it queued the job (`data.packages`); with diff_packages they
 * become the list against this profile's defaults.
 */
function packagesToBuild(data: BuildJobData, info: MakeInfo): string[] {
  const { request } = data;
  const profilePackages = info.profiles[request.profile]?.packages ?? [];
  return buildPackageList(
    data.packages,
    [...info.defaultPackages, ...profilePackages],
    request.diff_packages,
  );
}

/** What `make manifest` printed, or why the request cannot have it. */
function checkedManifest(context: BuildContext, run: ExecResult): Record<string, string> {
  const { request } = context.data;
  const exhausted = exhaustionFailure(run, context.deps.settings.sandbox, "manifest");
  if (exhausted) throw exhausted;
  if (run.exitCode !== 0) {
    throw new BuildFailure(packageSelectionError(run.stderr), run.stdout, run.stderr, {
      step: "manifest",
      exitCode: run.exitCode,
      stderr: run.stderr,
    });
  }
  const manifest = parseManifest(run.stdout);
  const versionsError = checkPackagesVersions(manifest, request.packages_versions);
  if (versionsError) throw new BuildFailure(versionsError, run.stdout, run.stderr);
  return manifest;
}

/**
 * Steps 7 and 8 in one exec: `make manifest`, its packages checked against
 * packages_versions, then `make image` named after the manifest, which
 * starts only once the manifest passed. A failure of either step is
 * classified exactly as when they ran apart.
 */
async function manifestAndImage(
  context: BuildContext,
  session: ImagebuilderSession,
  packages: string[],
) {
  const { request, requestHash } = context.data;
  const manifestCmd = manifestCommand(request.profile, packages);
  let manifest: Record<string, string> | undefined;
  let buildCmd: string[] = [];
  const started = Date.now();
  let imageStarted = started;
  const logged = (command: string, exitCode: number, since: number) =>
    context.log.info(
      { command, exit_code: exitCode, ms: Date.now() - since },
      "imagebuilder command finished",
    );
  // Unguessable, so no package's output can answer in the worker's place.
  const marker = `asu-manifest-done-${randomBytes(8).toString("hex")}`;
  const merged = await session.execWithAnswer(
    manifestThenImageCommand(
      manifestCmd,
      imageCommand({ request, packages, manifest: {}, requestHash }),
      marker,
    ),
    {
      marker,
      async answer(before) {
        logged("make manifest", 0, started);
        manifest = checkedManifest(context, { exitCode: 0, ...before });
        buildCmd = imageCommand({ request, packages, manifest, requestHash });
        await context.stage("building_image");
        imageStarted = Date.now();
        return manifestHash(manifest);
      },
    },
  );
  if (!merged.before || !manifest) {
    // It ended before the manifest was checked: make manifest failed (or was killed).
    logged("make manifest", merged.exitCode, started);
    checkedManifest(context, merged);
    throw new BuildFailure(FAILURE_DETAILS.internal, merged.stdout, merged.stderr, {
      step: "manifest",
      exitCode: merged.exitCode,
      unexpected: true,
    });
  }
  logged("make image", merged.exitCode, imageStarted);
  const imageRun: ExecResult = {
    exitCode: merged.exitCode,
    stdout: merged.stdout,
    stderr: merged.stderr,
  };
  const exhausted = exhaustionFailure(imageRun, context.deps.settings.sandbox, "image");
  if (exhausted) throw exhausted;
  const imageFailure = imageBuildFailure(imageRun.exitCode, imageRun.stderr);
  if (imageFailure) {
    throw new BuildFailure(imageFailure, imageRun.stdout, imageRun.stderr, {
      step: "image",
      exitCode: imageRun.exitCode,
      stderr: imageRun.stderr,
    });
  }
  return { manifest, buildCmd, imageRun };
}

/**
 * Step 9: the images signed (with a build key), copied out of the
 * container into the store, and the result the answer carries.
 */
async function storeResult(
  context: BuildContext,
  session: ImagebuilderSession,
  built: {
    packages: string[];
    manifest: Record<string, string>;
    buildCmd: string[];
    imageRun: ExecResult;
  },
): Promise<BuildResult> {
  const { data, deps } = context;
  const { request, requestHash } = data;
  const { packages: buildPackages, manifest, buildCmd, imageRun } = built;
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

/** Steps 3 to 9, inside the build's container. */
async function buildInContainer(
  context: BuildContext,
  session: ImagebuilderSession,
  runSetup: boolean,
): Promise<BuildResult> {
  await prepareImagebuilder(context, session, runSetup);

  await context.stage("validate_revision");
  const info = await readInfo(context, session);

  await context.stage("validate_manifest");
  const packages = packagesToBuild(context.data, info);
  const { manifest, buildCmd, imageRun } = await manifestAndImage(context, session, packages);
  return storeResult(context, session, { packages, manifest, buildCmd, imageRun });
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

/** Step 1: the job's image, pulled or found locally, or a snapshot image standing in for it. */
async function findImage(context: BuildContext): Promise<SelectedImage> {
  const { data, deps, signal } = context;
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
  return selected;
}

/**
 * The contract's worker steps for one job: the image (1), a container for
 * this build alone (2), then steps 3 to 9 in it. The container goes when
 * the build ends, however it ends.
 */
export async function runBuild(context: BuildContext): Promise<BuildResult> {
  const { data, deps, signal } = context;
  await context.stage("container_setup");
  const selected = await findImage(context);
  const warm = await deps.pool?.take(selected.image, selected.imageId, signal);
  const session = await openImagebuilderSession(deps.docker, {
    image: selected.image,
    imageId: selected.imageId,
    warm,
    requestHash: data.requestHash,
    workerId: deps.workerId,
    queueId: deps.queueId,
    jobTimeoutSeconds: deps.settings.jobTimeoutSeconds,
    network: deps.settings.network,
    sandbox: deps.settings.sandbox,
    signal,
  });
  // The next build of this image finds its container ready.
  const built = deps.pool?.building(selected.image, selected.imageId);
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
    // Not after a build cut short (its timeout, the worker stopping).
    if (!signal.aborted) built?.();
    const removal = session.remove().catch((error: Error) => {
      context.log.warn({ err: error.message }, "container removal failed");
    });
    if (deps.afterBuild) deps.afterBuild(removal);
    else await removal;
  }
}
