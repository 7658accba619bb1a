import { createHash } from "node:crypto";
import type { BuildRequest } from "@asu/contract";
import {
  type BuildStage,
  failureKindOf,
  type JobSnapshot,
  jobProgress,
  jobRequest,
} from "@asu/queue";
import { answerForOldLuci } from "./old-luci-stages.ts";

export interface BuildAnswer {
  status: 200 | 202 | 500;
  body: Record<string, unknown>;
  headers: { "X-Imagebuilder-Status": string; "X-Queue-Position": string };
}

const STALLED_DETAIL =
  "Error: The worker building this request stopped before finishing. Please request the build again.";

/**
 * The worker reports failures with the contract's `Error: …` text; BullMQ's
 * own reasons (a stalled job whose worker died) are turned into a sentence a
 * user can act on.
 */
function failureDetail(snapshot: JobSnapshot): string {
  const reported = jobProgress(snapshot).detail;
  if (reported?.startsWith("Error:")) return reported;
  const reason = snapshot.failedReason ?? "";
  if (/stalled/i.test(reason)) return STALLED_DETAIL;
  if (reason.startsWith("Error:")) return reason;
  return reason ? `Error: ${reason}` : "Error: Build failed";
}

/**
 * The request as answers show it: a first-boot script holds Wi-Fi keys and
 * root passwords, and anyone who knows the hash may poll it, so in place of
 * `defaults` stands `defaults_sha256`, which lets its owner check what went
 * in; clients do not need it back (owut only tests it to word a log line).
 * The job keeps the script and the request hash is computed as before.
 */
export function answerRequest(request: BuildRequest): Record<string, unknown> {
  if (!("defaults" in request)) return request;
  const shown: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(request)) {
    if (key !== "defaults") shown[key] = value;
    else if (typeof value === "string" && value !== "") {
      shown.defaults_sha256 = createHash("sha256").update(value).digest("hex");
    }
  }
  return shown;
}

/**
 * The contract's answer for a job, identical for POST, GET and HEAD; in the
 * stages an old LuCI knows when one of its requesters is such a LuCI.
 */
export function buildAnswer(snapshot: JobSnapshot): BuildAnswer {
  const answer = contractAnswer(snapshot);
  return snapshot.data.oldLuci ? answerForOldLuci(answer) : answer;
}

function contractAnswer(snapshot: JobSnapshot): BuildAnswer {
  const common = {
    request_hash: snapshot.requestHash,
    enqueued_at: new Date(snapshot.timestamp).toISOString(),
    request: answerRequest(jobRequest(snapshot.data)),
  };
  const progress = jobProgress(snapshot);

  switch (snapshot.state) {
    case "completed":
      return {
        status: 200,
        body: {
          ...(snapshot.returnvalue ?? {}),
          ...common,
          status: 200,
          detail: "done",
          imagebuilder_status: "done",
        },
        headers: { "X-Imagebuilder-Status": "done", "X-Queue-Position": "0" },
      };
    case "failed":
      return {
        status: 500,
        body: {
          ...common,
          status: 500,
          detail: failureDetail(snapshot),
          stdout: progress.stdout ?? "",
          stderr: progress.stderr ?? "",
          imagebuilder_status: "failed",
          failure_kind: failureKindOf(snapshot),
        },
        headers: { "X-Imagebuilder-Status": "failed", "X-Queue-Position": "0" },
      };
    case "active": {
      const stage: BuildStage = progress.imagebuilder_status ?? "init";
      return {
        status: 202,
        body: { ...common, status: 202, detail: "started", imagebuilder_status: stage },
        headers: { "X-Imagebuilder-Status": stage, "X-Queue-Position": "0" },
      };
    }
    default: {
      const position = snapshot.position ?? 0;
      return {
        status: 202,
        body: {
          ...common,
          status: 202,
          detail: "queued",
          queue_position: position,
          imagebuilder_status: "queued",
        },
        headers: { "X-Imagebuilder-Status": "queued", "X-Queue-Position": String(position) },
      };
    }
  }
}
