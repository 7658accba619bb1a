import {
  ApiError,
  type BuildRequest,
  buildRequestSchema,
  DEFAULT_LIMITS,
  requestHash,
} from "@asu/contract";
import type { Admission, BuildJobData, Enqueued, FoundJob, JobSnapshot } from "@asu/queue";
import type { StatsEntry } from "@asu/stats";
import type { ValidatedRequest } from "@asu/upstream";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../../test/support/silent-logger.ts";
import type { KnownAnswer } from "./answer-lookup.ts";
import type { BuildAnswer } from "./build-answer.ts";
import type { RequestOutcome } from "./build-counters.ts";
import { createSubmitBuild, type Requester, type SubmitBuildDeps } from "./submit-build.ts";

/*
 * The build POST's decision over plain fakes: each branch (answered from
 * what exists, failed before the queue, admitted and enqueued) and what it
 * asks of the queue (admission is its one enqueueWithin) and the counters.
 */

const asked: BuildRequest = buildRequestSchema(DEFAULT_LIMITS).parse({
  version: "24.10.0",
  target: "ath79/generic",
  profile: "archer-c7",
  packages: ["luci"],
  client: "owut/1",
});
const ASKED_HASH = requestHash(asked, { skipPackageResolution: false });
/** Validation names the matched profile's id, so the request as built hashes differently. */
const validatedRequest = { ...asked, profile: "tplink_archer-c7-v5" };
const HASH = requestHash(validatedRequest, { skipPackageResolution: false });

const headers = { "X-Imagebuilder-Status": "done", "X-Queue-Position": "" };
const done: BuildAnswer = { status: 200, body: { detail: "done" }, headers };
const ourFailure: BuildAnswer = {
  status: 500,
  body: { detail: "Error: pull failed", failure_kind: "infrastructure" },
  headers,
};

const requester = ({ address }: { address?: string } = { address: "192.0.2.1" }): Requester => ({
  address,
  userAgent: "curl/8",
  requestId: "req-1",
  log: () => silentLogger("submit-build-test"),
});

function fakes(options: {
  known?: Record<string, KnownAnswer>;
  invalid?: ApiError;
  versionPath?: string | undefined;
  refused?: BuildAnswer;
  enqueued?: "yes" | "queue-full" | "client-full" | Error;
  found?: Partial<FoundJob>;
}) {
  const calls = {
    counted: [] as { outcome: RequestOutcome; client: unknown; extra: StatsEntry[] }[],
    validated: 0,
    checked: [] as BuildJobData[],
    admissions: [] as Admission[],
    enqueued: [] as BuildJobData[],
    dropped: 0,
    rebuilt: 0,
  };
  const deps: SubmitBuildDeps = {
    answers: {
      async answerFor(hash, found) {
        if (options.found && found)
          found.set(hash, { requestHash: hash, ...options.found } as FoundJob);
        return options.known?.[hash];
      },
    },
    async validate(request) {
      calls.validated++;
      if (options.invalid) throw options.invalid;
      return {
        request: { ...request, profile: validatedRequest.profile },
        branch: { name: "24.10" },
        architecture: "mips_24kc",
        metadata: { version_code: "r28427", default_packages: ["base-files"], profiles: {} },
      } as unknown as ValidatedRequest;
    },
    catalog: {
      versionPath: () => ("versionPath" in options ? options.versionPath : "releases/24.10.0"),
    },
    packageCheck: {
      async refuse({ data }) {
        calls.checked.push(data);
        return options.refused;
      },
    },
    queue: {
      async dropExpired() {
        calls.dropped++;
      },
      async rebuildInfrastructureFailure() {
        calls.rebuilt++;
        return true;
      },
      async enqueueWithin(data, admission): Promise<Enqueued> {
        calls.enqueued.push(data);
        calls.admissions.push(admission);
        const outcome = options.enqueued ?? "yes";
        if (outcome instanceof Error) throw outcome;
        if (outcome === "queue-full") return { enqueued: false, refused: outcome, waiting: 10 };
        if (outcome === "client-full") return { enqueued: false, refused: outcome, waiting: 2 };
        const snapshot = {
          requestHash: data.requestHash,
          state: "waiting" as const,
          data,
          progress: undefined,
          timestamp: 0,
          position: 3,
        };
        return { enqueued: true, snapshot };
      },
    },
    eta: {
      annotate: async (answer) => ({ ...answer, body: { ...answer.body, eta_seconds: 7 } }),
      newBuild: async () => 42,
    },
    counters: {
      statsEnabled: true,
      count(outcome, who, extra = []) {
        calls.counted.push({ outcome, client: who.client, extra });
      },
    },
    settings: {
      base_container: "ghcr.io/openwrt/imagebuilder",
      max_pending_jobs: 10,
      max_pending_per_client: 2,
      build_failure_ttl: 3600,
      build_ttl: 3600,
      build_ttl_unversioned: 3600,
      build_defaults_ttl: 3600,
      infra_retries: 2,
      infra_retry_delay: 30,
    },
  };
  return { submitter: createSubmitBuild(deps), calls };
}

const submitted = (submitter: ReturnType<typeof fakes>["submitter"], who = requester()) =>
  submitter.submit({ asked, skipPackageResolution: false, bodyKey: "body", requester: who });
const submit = async (submitter: ReturnType<typeof fakes>["submitter"], who = requester()) =>
  (await submitted(submitter, who)).answer;

describe("answered from what exists", () => {
  it("is asked under both hashes", () => {
    expect(HASH).not.toBe(ASKED_HASH);
  });

  it("answers a built hash as it was asked, without validating, counted as a hit", async () => {
    const { submitter, calls } = fakes({ known: { [ASKED_HASH]: done } });
    expect(await submit(submitter)).toBe(done);
    expect(calls.validated).toBe(0);
    expect(calls.counted).toEqual([{ outcome: "hit", client: "owut/1", extra: [] }]);
  });

  it("answers the hash of the request as built after validation, counted as answered when not done", async () => {
    const queued: BuildAnswer = { status: 202, body: {}, headers };
    const { submitter, calls } = fakes({ known: { [HASH]: queued } });
    expect(await submit(submitter)).toBe(queued);
    expect(calls.validated).toBe(1);
    expect(calls.enqueued).toEqual([]);
    expect(calls.counted.map((c) => c.outcome)).toEqual(["answered"]);
  });

  it("remembers the body: posted again, it is answered without a submit", async () => {
    const { submitter, calls } = fakes({ known: { [HASH]: done } });
    expect(await submitter.knownBody("body", requester())).toBeUndefined();
    await submit(submitter);
    expect((await submitter.knownBody("body", requester()))?.answer).toBe(done);
    expect(await submitter.knownBody(undefined, requester())).toBeUndefined();
    expect(calls.counted.map((c) => [c.outcome, c.client])).toEqual([
      ["hit", "owut/1"],
      ["hit", "owut/1"],
    ]);
  });

  it("never answers a POST with a failure of ours: the build is replaced", async () => {
    const { submitter, calls } = fakes({
      known: { [HASH]: ourFailure },
      found: { expired: false, snapshot: undefined },
    });
    const answer = await submit(submitter);
    expect(answer.status).toBe(202);
    expect(calls.rebuilt).toBe(1);
    expect(calls.enqueued).toHaveLength(1);
  });
});

describe("failed before the queue", () => {
  it("counts a request validation refuses, and throws its 400", async () => {
    const invalid = new ApiError(400, { detail: "Unsupported profile", status: 400 });
    const { submitter, calls } = fakes({ invalid });
    await expect(submit(submitter)).rejects.toBe(invalid);
    expect(calls.counted).toEqual([{ outcome: "refused", client: undefined, extra: [] }]);
    expect(calls.enqueued).toEqual([]);
  });

  it("refuses a version without an ImageBuilder, before counting a miss", async () => {
    const { submitter, calls } = fakes({ versionPath: undefined });
    await expect(submit(submitter)).rejects.toMatchObject({
      status: 400,
      body: { detail: "Unsupported version: 24.10.0" },
    });
    expect(calls.counted.map((c) => c.outcome)).toEqual([]);
    expect(calls.enqueued).toEqual([]);
  });

  it("answers the package check's failure, with no job", async () => {
    const refused: BuildAnswer = { status: 500, body: { detail: "Error: missing" }, headers };
    const { submitter, calls } = fakes({ refused });
    expect(await submit(submitter)).toBe(refused);
    expect(calls.checked[0]).toMatchObject({ requestHash: HASH, packages: expect.any(Array) });
    expect(calls.enqueued).toEqual([]);
  });
});

describe("admitted and enqueued", () => {
  it("queues the job data under the hash as built, and answers 202 with its estimate", async () => {
    const { submitter, calls } = fakes({});
    const answer = (await submit(submitter)) as BuildAnswer;
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({ request_hash: HASH, queue_position: 3, eta_seconds: 7 });
    expect(calls.admissions).toEqual([{ client: "192.0.2.1", maxPending: 10, maxPerClient: 2 }]);
    expect(calls.enqueued[0]).toMatchObject({
      requestHash: HASH,
      image: "ghcr.io/openwrt/imagebuilder:ath79-generic-v24.10.0",
      versionPath: "releases/24.10.0",
      upstreamVersionCode: "r28427",
      snapshot: false,
      requestId: "req-1",
    });
    const miss = calls.counted.find((c) => c.outcome === "miss");
    expect(miss?.extra).toEqual([{ kind: "packages", branch: "24.10", packages: ["luci"] }]);
  });

  it("drops an expired job of the hash before queueing it again", async () => {
    const { submitter, calls } = fakes({ found: { expired: true, snapshot: undefined } });
    await submit(submitter);
    expect(calls.dropped).toBe(1);
    expect(calls.rebuilt).toBe(0);
  });

  it("answers the hash, its client and the answer, for the route's hooks", async () => {
    const { submitter } = fakes({});
    expect(await submitted(submitter)).toMatchObject({
      requestHash: HASH,
      client: "owut/1",
      answer: { status: 202 },
    });
  });

  it("flags an old LuCI's job, so its polls answer the stages it knows", async () => {
    const { submitter, calls } = fakes({});
    const luci = { ...asked, client: "luci/git-23.236.53281-98e3743" };
    await submitter.submit({
      asked: luci,
      skipPackageResolution: false,
      bodyKey: undefined,
      requester: requester(),
    });
    expect(calls.enqueued[0]).toMatchObject({ oldLuci: true });
  });

  it("refuses a client over its share with 429 and Retry-After, as the queue decided", async () => {
    const { submitter } = fakes({ enqueued: "client-full" });
    await expect(submit(submitter)).rejects.toMatchObject({
      status: 429,
      headers: { "Retry-After": "42" },
      body: {
        detail:
          "too many builds of this client waiting: 2 (at most 2); retry when some have started",
      },
    });
  });

  it("admits an in-process request in a lane of its own", async () => {
    const { submitter, calls } = fakes({});
    await submit(submitter, requester({}));
    expect(calls.admissions[0]).toMatchObject({ client: undefined });
    expect(calls.enqueued).toHaveLength(1);
  });

  it("answers 529 when the queue is full", async () => {
    const { submitter } = fakes({ enqueued: "queue-full" });
    await expect(submit(submitter)).rejects.toMatchObject({
      status: 529,
      body: {
        status: 529,
        title: "Server overloaded",
        detail: "server overload, queue contains too many build requests: 10",
      },
    });
  });

  it("passes a failure to enqueue on", async () => {
    const failure = new Error("redis gone");
    const { submitter } = fakes({ enqueued: failure });
    await expect(submit(submitter)).rejects.toBe(failure);
  });
});

describe("a hash waiting as a prebuild", () => {
  it("is promoted to the client's turn by a POST, and answered as it now waits", async () => {
    const waiting: BuildAnswer = { status: 202, body: {}, headers };
    const data = { requestHash: HASH, request: validatedRequest, prebuild: true } as BuildJobData;
    const { submitter, calls } = fakes({
      known: { [HASH]: waiting },
      found: { expired: false, snapshot: { prebuildLane: true, data } as unknown as JobSnapshot },
    });
    const answer = (await submit(submitter)) as BuildAnswer;
    expect(calls.enqueued).toEqual([{ requestHash: HASH, request: validatedRequest }]);
    expect(calls.admissions[0]).toMatchObject({ client: "192.0.2.1" });
    expect(answer.body).toMatchObject({ request_hash: HASH, eta_seconds: 7 });
  });
});
