import { describe, expect, it } from "vitest";
import {
  classifyFailure,
  type FailureSignals,
  INFRASTRUCTURE_RULES,
  isWorkerLostReason,
} from "./failure-kind.ts";

const cases: [string, FailureSignals, string][] = [
  ["JOB_TIMEOUT", { timedOut: true }, "job_timeout"],
  ["worker lost (stalled)", { workerLost: true }, "worker_lost"],
  ["no image, no fallback", { imageMissing: true }, "image_missing"],
  ["OOM-killed container", { oomKilled: true, exitCode: 137 }, "oom_killed"],
  ["container died mid-build", { containerDied: true }, "container_died"],
  ["/builder full", { exhausted: "disk", step: "image", exitCode: 0 }, "out_of_disk"],
  ["out of memory", { exhausted: "memory", step: "manifest", exitCode: 2 }, "out_of_memory"],
  ["cannot fork", { exhausted: "processes", step: "image", exitCode: 2 }, "out_of_processes"],
  ["store full", { errno: "ENOSPC", unexpected: true }, "store_full"],
  ["quota exceeded", { errno: "EDQUOT", unexpected: true }, "store_full"],
  ["read-only store", { errno: "EROFS", unexpected: true }, "store_io"],
  ["Podman socket refused", { errno: "ECONNREFUSED", unexpected: true }, "podman_unreachable"],
  ["Podman socket gone", { errno: "ENOENT", unexpected: true }, "podman_unreachable"],
  ["Podman connection reset", { errno: "ECONNRESET", unexpected: true }, "podman_unreachable"],
  ["Podman API timeout", { errorClass: "TimeoutError", unexpected: true }, "podman_timeout"],
  ["Podman 500", { apiStatus: 500, unexpected: true }, "podman_error"],
  ["Podman 503", { apiStatus: 503, unexpected: true }, "podman_error"],
  ["container vanished (404)", { apiStatus: 404, unexpected: true }, "container_gone"],
  ["container stopped (409)", { apiStatus: 409, unexpected: true }, "container_gone"],
  ["command SIGKILLed", { exitCode: 137, step: "image" }, "command_killed"],
  ["an exception of ours", { unexpected: true }, "internal"],
  ["signing with the server's key", { step: "signing", exitCode: 1 }, "signing_failed"],
  [
    "busybox wget 5xx in setup.sh",
    {
      step: "setup",
      exitCode: 1,
      stderr: "wget: server returned error: HTTP/1.1 503 Service Unavailable",
    },
    "download_failed",
  ],
  [
    "busybox wget cannot connect",
    {
      step: "setup",
      exitCode: 1,
      stderr: "wget: can't connect to remote host: Connection refused",
    },
    "download_failed",
  ],
  [
    "uclient-fetch connection error in make manifest",
    { step: "manifest", exitCode: 1, stderr: "Connection error: Connection refused" },
    "download_failed",
  ],
  [
    "opkg cannot download a feed",
    {
      step: "manifest",
      exitCode: 255,
      stderr:
        " * opkg_download: Failed to download https://downloads.openwrt.org/x/Packages.gz, wget returned 4.",
    },
    "download_failed",
  ],
  [
    "HTTP 502 from a feed",
    { step: "image", exitCode: 1, stderr: "HTTP error 502" },
    "feed_server_error",
  ],
  [
    "apk index corrupt",
    {
      step: "manifest",
      exitCode: 1,
      stderr: "WARNING: updating and opening https://x/packages.adb: package index are corrupt",
    },
    "feed_corrupt",
  ],
  [
    "sha256sum -c fails in setup.sh",
    {
      step: "setup",
      exitCode: 1,
      stderr:
        "openwrt-imagebuilder.tar.gz: FAILED\nsha256sum: WARNING: 1 of 1 computed checksums did NOT match",
    },
    "checksum_mismatch",
  ],
  [
    "opkg checksum mismatch",
    { step: "image", exitCode: 255, stderr: " * Checksum mismatch for package luci" },
    "checksum_mismatch",
  ],
];

describe("classifyFailure", () => {
  it.each(cases)("%s is infrastructure", (_name, signals, reason) => {
    expect(classifyFailure(signals)).toEqual({ kind: "infrastructure", reason });
  });

  const requestCases: [string, FailureSignals][] = [
    [
      "an unknown package",
      {
        step: "manifest",
        exitCode: 255,
        stderr: " * opkg_install_cmd: Cannot install package nosuch.",
      },
    ],
    ["image too big", { step: "image", exitCode: 2, stderr: "is too big" }],
    ["revision mismatch", { step: "info", exitCode: 0 }],
    ["a failing setup.sh without download trouble", { step: "setup", exitCode: 1, stderr: "" }],
    ["a 4xx other than 404/409", { apiStatus: 400 }],
    ["an errno that says nothing of us", { errno: "EINVAL" }],
  ];
  it.each(requestCases)("%s is the request's", (_name, signals) => {
    expect(classifyFailure(signals)).toEqual({ kind: "request", reason: "request" });
  });

  it("structured signals win over stderr", () => {
    expect(
      classifyFailure({ timedOut: true, step: "manifest", stderr: "wget: bad address" }).reason,
    ).toBe("job_timeout");
  });

  it("takes its rules as data: one more line, one more case", () => {
    const rules = [...INFRASTRUCTURE_RULES, { reason: "disk_quota", errno: ["EFBIG"] }];
    expect(classifyFailure({ errno: "EFBIG" }, rules)).toEqual({
      kind: "infrastructure",
      reason: "disk_quota",
    });
  });

  it("reads BullMQ's stalled reason as a lost worker", () => {
    expect(isWorkerLostReason("job stalled more than allowable limit")).toBe(true);
    expect(isWorkerLostReason("Error: Build failed")).toBe(false);
    expect(isWorkerLostReason(undefined)).toBe(false);
  });
});
