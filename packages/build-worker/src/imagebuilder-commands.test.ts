import { describe, expect, it } from "vitest";
import {
  binDir,
  DEFAULTS_PATH,
  FILES_DIR,
  imageCommand,
  manifestCommand,
  setupEnvironment,
} from "./imagebuilder-commands.ts";

const HASH = "f".repeat(64);
const MANIFEST = { busybox: "1.36.1-r2", "base-files": "1620-r28427", luci: "25.0" };
const plain = {
  profile: "tplink_archer-c7-v5",
  defaults: null,
  rootfs_size_mb: null,
  filesystem: null,
};

describe("ImageBuilder commands", () => {
  it("passes setup.sh the target and the branch path", () => {
    expect(setupEnvironment("x86/64", "snapshots")).toEqual({
      TARGET: "x86/64",
      VERSION_PATH: "snapshots",
    });
  });

  it("asks for the manifest with the packages as one argument", () => {
    expect(manifestCommand("generic", ["-ppp", "luci", "htop"])).toEqual([
      "make",
      "manifest",
      "PROFILE=generic",
      "PACKAGES=-ppp luci htop",
      "STRIP_ABI=1",
    ]);
    expect(manifestCommand("generic", [])).toEqual([
      "make",
      "manifest",
      "PROFILE=generic",
      "PACKAGES=",
      "STRIP_ABI=1",
    ]);
  });

  it("builds the image into /builder/{hash} named after the manifest", () => {
    expect(binDir(HASH)).toBe(`/builder/${HASH}`);
    // sha256("base-files busybox luci")[:12]
    expect(
      imageCommand({ request: plain, packages: ["luci"], manifest: MANIFEST, requestHash: HASH }),
    ).toEqual([
      "make",
      "image",
      "PROFILE=tplink_archer-c7-v5",
      "PACKAGES=luci",
      "EXTRA_IMAGE_NAME=07723ffd7413",
      `BIN_DIR=/builder/${HASH}`,
    ]);
  });

  it("adds FILES, ROOTFS_PARTSIZE and ROOTFS_FILESYSTEM only when asked", () => {
    const command = imageCommand({
      request: { ...plain, defaults: "echo hi", rootfs_size_mb: 256, filesystem: "ext4" },
      packages: [],
      manifest: MANIFEST,
      requestHash: HASH,
    });
    expect(command.slice(6)).toEqual([
      "FILES=/builder/asu-files",
      "ROOTFS_PARTSIZE=256",
      "ROOTFS_FILESYSTEM=ext4",
    ]);
    const empty = imageCommand({
      request: { ...plain, defaults: "" },
      packages: [],
      manifest: MANIFEST,
      requestHash: HASH,
    });
    expect(empty).toHaveLength(6);
  });

  it("puts the defaults where FILES points", () => {
    expect(`/builder/${DEFAULTS_PATH}`).toBe(`${FILES_DIR}/etc/uci-defaults/99-asu-defaults`);
  });
});
