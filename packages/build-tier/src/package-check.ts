import type { Logger } from "@asu/observability";
import { isSnapshot } from "@asu/openwrt-releases";
import {
  type AvailabilityReport,
  availabilityFailure,
  checkAvailability,
  type IndexSearch,
} from "@asu/package-rules";
import { type BuildJobData, type RefusedBuild, storeRefusedBuild } from "@asu/queue";
import { appendErrorLog, errorLogEntry, type StatsRecorder } from "@asu/stats";
import type { PackageIndexes, ValidatedRequest } from "@asu/upstream";
import type { Redis } from "ioredis";
import { type BuildAnswer, buildAnswer } from "./build-answer.ts";

export interface PackageCheckDeps {
  indexes: PackageIndexes;
  /** Where failures are stored and logged. */
  redis: Redis;
  /** The build tier's statistics recorder, which counts the failures. */
  stats: StatsRecorder;
  /** Counts each refusal on /metrics. */
  onRefused: () => void;
}

export interface PackageCheckInput {
  validated: ValidatedRequest;
  /** The job the build would be: its packages are the ones checked. */
  data: BuildJobData;
  log: Logger;
}

export interface PackageCheck {
  /**
   * The failed answer when a package the worker would build is certainly in
   * no index (or a release pin contradicts it), stored as the hash's result;
   * undefined when the build should be queued.
   */
  refuse(input: PackageCheckInput): Promise<BuildAnswer | undefined>;
}

/** stdout and stderr of the failure: which indexes were searched, so the user sees why. */
function explanation(report: AvailabilityReport, search: IndexSearch) {
  const searched = search.indexes.map((index) => `  ${index.url}`).join("\n");
  const stdout = `Checked the package selection against ${search.indexes.length} package indexes before queueing the build; no ImageBuilder ran.\n`;
  const lines = [
    ...report.missing.map((name) => `${name}: in none of the package indexes searched`),
    ...report.mismatches.map(
      (m) => `${m.package}: version ${m.want} requested, the index has ${m.got}`,
    ),
    "Package indexes searched:",
    searched,
  ];
  return { stdout, stderr: `${lines.join("\n")}\n` };
}

/**
 * The availability check before the queue: a build that cannot succeed is
 * answered at once with the failure the worker would have reported, and
 * counted, logged and stored like any failed build, without a job or a
 * container. Anything uncertain (an unreadable index, a custom repository)
 * lets the build through.
 */
export function createPackageCheck(deps: PackageCheckDeps): PackageCheck {
  const { indexes, redis, stats } = deps;

  async function search(input: PackageCheckInput): Promise<IndexSearch | undefined> {
    const { request, architecture, metadata } = input.validated;
    try {
      return await indexes.search({
        version: request.version,
        target: request.target,
        architecture,
        metadata,
        repositories: request.repositories,
      });
    } catch (error) {
      // Our fault is never the user's verdict: an unexpected error queues the build.
      input.log.warn({ err: (error as Error).message }, "package check skipped");
      return undefined;
    }
  }

  return {
    async refuse(input) {
      const { request } = input.validated;
      const found = await search(input);
      if (!found) return undefined;
      const { data } = input;
      const pins = isSnapshot(request.version) ? {} : request.packages_versions;
      const report = checkAvailability(data.packages, found, pins);
      const detail = availabilityFailure(report);
      if (report.unknown.length > 0) {
        input.log.debug({ unknown: report.unknown }, "packages not checkable before the build");
      }
      if (detail === undefined) return undefined;

      const refused: RefusedBuild = {
        data,
        progress: {
          imagebuilder_status: "failed",
          detail,
          failure_kind: "request",
          ...explanation(report, found),
        },
        timestamp: Date.now(),
      };
      await storeRefusedBuild(redis, refused);
      await appendErrorLog(redis, errorLogEntry(request, detail, Date.now(), "request"));
      // Written now, as the worker does for its failures: rare, and seen at once.
      stats.record(
        { kind: "event", event: "failures" },
        { kind: "event", event: "failures-request" },
      );
      await stats.flush();
      deps.onRefused();
      input.log.info(
        { request_hash: data.requestHash, detail, missing: report.missing },
        "build failed before the queue",
      );
      // The same answer a poll reads back from Redis.
      return buildAnswer({
        requestHash: data.requestHash,
        state: "failed",
        data,
        progress: refused.progress,
        timestamp: refused.timestamp,
      });
    },
  };
}

/** PACKAGE_CHECK off: every build goes to the queue. */
export const NO_PACKAGE_CHECK: PackageCheck = { refuse: async () => undefined };
