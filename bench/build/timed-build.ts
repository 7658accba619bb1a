// One build as a client sees it: POST /api/v1/build, then status polls until
// the answer is no longer 202. Times are performance.now() of this process.

import { rawRequest } from "../../test/support/raw-request.ts";

export interface SeenStage {
  /** `queued` or the imagebuilder_status a poll answered. */
  stage: string;
  at: number;
}

export interface TimedBuild {
  requestHash: string;
  postedAt: number;
  /** When the POST's answer arrived. */
  answeredAt: number;
  /** When the poll that answered 200 returned. */
  doneAt: number;
  ms: number;
  /** Every change of stage the polls saw, first sighting. */
  stages: SeenStage[];
  body: any;
}

export interface TimedBuildOptions {
  /** Pause between polls; the clients poll every 5 s, a benchmark wants the end to the millisecond. */
  pollMs: number;
  timeoutMs?: number;
  /** Query of the POST, e.g. `skip_package_resolution=true` for a prepared request. */
  query?: string;
  /** Told the hash as soon as the POST answers, so the caller can clean up after it. */
  onHash?: (requestHash: string) => void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/*
 * Polls go over kept-alive node:http, not fetch: the client shares the cores
 * with the builds it times (fetch's cost is in bench/README.md).
 */
const POLL_TIMEOUT_MS = 10_000;

export async function timedBuild(
  buildUrl: string,
  request: unknown,
  options: TimedBuildOptions,
): Promise<TimedBuild> {
  const postedAt = performance.now();
  const query = options.query ? `?${options.query}` : "";
  const res = await fetch(`${buildUrl}/api/v1/build${query}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(request),
  });
  const posted = (await res.json()) as any;
  const answeredAt = performance.now();
  if (res.status !== 202) {
    throw new Error(`POST answered ${res.status} (not a fresh build?): ${JSON.stringify(posted)}`);
  }
  const requestHash: string = posted.request_hash;
  options.onHash?.(requestHash);
  const stages: SeenStage[] = [{ stage: "queued", at: answeredAt }];
  const deadline = postedAt + (options.timeoutMs ?? 120_000);
  for (;;) {
    const poll = await rawRequest(buildUrl, `/api/v1/build/${requestHash}`, {
      timeoutMs: POLL_TIMEOUT_MS,
    });
    const body = JSON.parse(poll.body.toString("utf8"));
    const at = performance.now();
    const stage: string = body.imagebuilder_status ?? body.detail;
    if (stage !== stages.at(-1)?.stage) stages.push({ stage, at });
    if (poll.status === 200) {
      return { requestHash, postedAt, answeredAt, doneAt: at, ms: at - postedAt, stages, body };
    }
    if (poll.status !== 202) {
      throw new Error(`build ${requestHash} answered ${poll.status}: ${body.detail}`);
    }
    if (at > deadline) throw new Error(`build ${requestHash} still ${stage}`);
    await sleep(options.pollMs);
  }
}
