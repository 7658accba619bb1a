import { classifyFailure } from "@asu/contract";
import { describe, expect, it } from "vitest";
import {
  BuildFailure,
  exhaustionFailure,
  FAILURE_DETAILS,
  imageBuildFailure,
} from "./build-failure.ts";

describe("FAILURE_DETAILS", () => {
  it("spells the contract's texts", () => {
    expect(
      FAILURE_DETAILS.imageNotFound("ghcr.io/openwrt/imagebuilder:ath79-generic-v24.10.0"),
    ).toBe(
      "Error: Image not found: ghcr.io/openwrt/imagebuilder:ath79-generic-v24.10.0. If this version was just released, please try again in a few hours as it may take some time to become fully available.",
    );
    expect(FAILURE_DETAILS.setup(1)).toBe("Error: Could not set up ImageBuilder (returncode=1)");
    expect(FAILURE_DETAILS.storage).toBe("Error: Selected packages exceed device storage");
    expect(FAILURE_DETAILS.image).toBe("Error: Error while building firmware. See stdout/stderr");
    expect(FAILURE_DETAILS.noJson).toBe("Error: No JSON file found");
    expect(FAILURE_DETAILS.noProfile).toBe("Error: Profile not found in JSON file");
    expect(FAILURE_DETAILS.timeout(600)).toBe(
      "Error: Build exceeded the time limit of 600 seconds",
    );
  });

  it("starts every text with Error:, as status answers show them", () => {
    for (const detail of Object.values(FAILURE_DETAILS)) {
      const text = typeof detail === "function" ? detail(1 as never) : detail;
      expect(text).toMatch(/^Error: /);
    }
  });
});

describe("imageBuildFailure", () => {
  it("reports storage trouble from stderr, whatever the exit code", () => {
    const warning =
      "    WARNING: Image file /builder/build_dir/x/tmp/openwrt-sysupgrade.bin is too big:  16777216 > 7798784\n";
    expect(imageBuildFailure(2, warning)).toBe(FAILURE_DETAILS.storage);
    expect(imageBuildFailure(0, warning)).toBe(FAILURE_DETAILS.storage);
    expect(imageBuildFailure(1, "mkfs.ext4: No space left (out of space?)")).toBe(
      FAILURE_DETAILS.storage,
    );
  });

  it("reports other failures by exit code only", () => {
    expect(imageBuildFailure(2, "make: *** [Makefile:312: image] Error 2")).toBe(
      FAILURE_DETAILS.image,
    );
    expect(imageBuildFailure(0, "some warning")).toBeNull();
    expect(imageBuildFailure(0, "")).toBeNull();
  });
});

describe("BuildFailure", () => {
  it("carries the detail as message and the step's output", () => {
    const failure = new BuildFailure("Error: x", "out", "err");
    expect(failure).toBeInstanceOf(Error);
    expect(failure.message).toBe("Error: x");
    expect([failure.detail, failure.stdout, failure.stderr]).toEqual(["Error: x", "out", "err"]);
    expect(new BuildFailure("Error: y").stdout).toBe("");
  });
});

describe("exhaustionFailure", () => {
  const limits = { memoryBytes: 4 * 1024 ** 3, diskMb: 3072, pidsLimit: 512 };
  const detail = (exitCode: number, stderr: string, own = limits) =>
    exhaustionFailure({ exitCode, stdout: "", stderr }, own)?.detail ?? null;
  const resource = (exitCode: number, stderr: string) =>
    exhaustionFailure({ exitCode, stdout: "", stderr }, limits, "image")?.signals.exhausted;

  it("names the limit a failed command hit", () => {
    expect(detail(137, "")).toBe(
      "Error: The build was killed: it used more than this server's memory limit of 4 GB",
    );
    expect(detail(2, "make[2]: *** [Makefile:183: package_install] Error 137\nmake: ***")).toBe(
      FAILURE_DETAILS.memory("4 GB"),
    );
    expect(detail(137, "", { ...limits, memoryBytes: 96 * 1024 ** 2 })).toContain("limit of 96 MB");
    expect(detail(2, "tar: write error: No space left on device\nmake: *** Error 1")).toBe(
      "Error: The build ran out of its 3072 MB of disk space",
    );
    expect(detail(2, "sh: can't fork: Resource temporarily unavailable")).toBe(
      "Error: The build tried to run more than this server's limit of 512 processes",
    );
    expect(detail(2, "bash: fork: retry: Resource temporarily unavailable")).toBe(
      FAILURE_DETAILS.processes(512),
    );
  });

  // What the tools print when /builder, memory or the process table runs out.
  const seen: [string, string, string][] = [
    ["cp: error writing '/builder/build_dir/x/root.squashfs': No space left on device", "disk", ""],
    ["Write failed because No space left on device", "disk", "mksquashfs"],
    ["ERROR: libc-1.2.5-r4: No space left on device", "disk", "apk"],
    [
      " * verify_pkg_installable: Only have 0kb available on filesystem /builder/build_dir/target/root, pkg luci needs 12",
      "disk",
      "opkg",
    ],
    ["dd: error writing '/builder/fill.bin': Disk quota exceeded", "disk", "quota"],
    ["Error: ENOSPC: no space left on device, write", "disk", "node"],
    ["xz: (stdin): Cannot allocate memory", "memory", ""],
    ["virtual memory exhausted: Cannot allocate memory", "memory", "cc1"],
    ["/bin/sh: 1: Cannot fork", "processes", "dash"],
    ["sh: can't fork: Resource temporarily unavailable", "processes", "busybox"],
    ["bash: fork: retry: Resource temporarily unavailable", "processes", "bash"],
    ["Too many open files", "processes", "EMFILE"],
  ];
  it.each(seen)("reads %j as out of %s (%s), on success too", (stderr, what) => {
    expect(resource(2, stderr)).toBe(what);
    expect(resource(0, stderr)).toBe(what);
  });

  it("makes it an infrastructure failure", () => {
    const failure = exhaustionFailure(
      { exitCode: 0, stdout: "", stderr: "No space left on device" },
      limits,
      "image",
    );
    expect(failure?.signals).toEqual({ step: "image", exitCode: 0, exhausted: "disk" });
    expect(classifyFailure(failure?.signals ?? {})).toEqual({
      kind: "infrastructure",
      reason: "out_of_disk",
    });
  });

  it("leaves other failures, successes and an image too big for the device to their step", () => {
    expect(detail(2, "Collected errors:")).toBeNull();
    expect(detail(0, "Building images for ath79/generic")).toBeNull();
    const tooBig = "    WARNING: Image file /builder/x/tmp/y.bin is too big:  16777216 > 7798784";
    expect(detail(0, tooBig)).toBeNull();
    expect(detail(2, "out of space?")).toBeNull();
    expect(imageBuildFailure(0, tooBig)).toBe(FAILURE_DETAILS.storage);
  });
});
