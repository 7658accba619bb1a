import { execFileSync } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  buildKeyFiles,
  imagesToSign,
  loadBuildKey,
  SIGNED_IMAGE_TYPES,
  signingCommand,
  signingEnvironment,
} from "./image-signing.ts";

const SECRET = "untrusted comment: private key\nRWRCSwAAAAB0ZXN0\n";

describe("imagesToSign", () => {
  it("takes the installable images only", () => {
    expect(SIGNED_IMAGE_TYPES).toEqual([
      "sysupgrade",
      "factory",
      "combined",
      "combined-efi",
      "sdcard",
    ]);
    expect(
      imagesToSign([
        { name: "k.bin", type: "kernel" },
        { name: "f.bin", type: "factory" },
        { name: "s.bin", type: "sysupgrade" },
        { name: "c.img.gz", type: "combined-efi" },
        { name: "r.img.gz", type: "rootfs" },
        { type: "sysupgrade" },
        null,
      ]),
    ).toEqual(["f.bin", "s.bin", "c.img.gz"]);
    expect(imagesToSign(undefined)).toEqual([]);
  });
});

describe("loadBuildKey", () => {
  it("is off without a setting", async () => {
    expect(await loadBuildKey(undefined)).toBeUndefined();
    expect(await loadBuildKey("")).toBeUndefined();
  });

  it("reads a key file and its certificate next to it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "asu-key-"));
    const path = join(dir, "key-build");
    await writeFile(path, SECRET);
    expect(await loadBuildKey(path)).toEqual({ secretKey: SECRET });
    await writeFile(`${path}.ucert`, "CERT");
    expect(await loadBuildKey(path)).toEqual({ secretKey: SECRET, ucert: "CERT" });
  });

  it("takes the setting itself as the key when it is no file", async () => {
    expect(await loadBuildKey(SECRET.trimEnd())).toEqual({ secretKey: SECRET });
  });
});

describe("signing in the container", () => {
  it("puts the key files for buildbot only", () => {
    expect(buildKeyFiles({ secretKey: SECRET })).toEqual([
      { path: "key-build", content: SECRET, mode: 0o600 },
    ]);
    expect(buildKeyFiles({ secretKey: SECRET, ucert: "C" })).toEqual([
      { path: "key-build", content: SECRET, mode: 0o600 },
      { path: "key-build.ucert", content: "C", mode: 0o600 },
    ]);
  });

  it("runs the ImageBuilder's tools on each image, names passed as arguments", async () => {
    // Stand-ins for usign/ucert/fwtool that log their calls.
    const dir = await mkdtemp(join(tmpdir(), "asu-sign-"));
    const bin = join(dir, "bin");
    const images = join(dir, "bin-dir");
    execFileSync("mkdir", ["-p", bin, images]);
    for (const tool of ["usign", "ucert", "fwtool"]) {
      await writeFile(join(bin, tool), `#!/bin/sh\necho "${tool} $*" >> "${dir}/calls"\n`, {
        mode: 0o755,
      });
    }
    const [sh, flag, script, ...args] = signingCommand(images, ["a.bin", "b; rm -rf x.bin"]);
    expect([sh, flag, args]).toEqual(["sh", "-c", ["sign", images, "a.bin", "b; rm -rf x.bin"]]);
    const out = execFileSync(sh as string, [flag as string, script as string, ...args], {
      env: { PATH: `${bin}:${signingEnvironment().PATH}` },
    }).toString();
    expect(out).toBe("signed a.bin\nsigned b; rm -rf x.bin\n");
    const calls = execFileSync("cat", [join(dir, "calls")]).toString();
    expect(calls).toBe(
      [
        "fwtool -t -s /dev/null a.bin",
        "usign -S -m a.bin -s /builder/key-build -x a.bin.sig",
        "fwtool -t -s /dev/null b; rm -rf x.bin",
        "usign -S -m b; rm -rf x.bin -s /builder/key-build -x b; rm -rf x.bin.sig",
        "",
      ].join("\n"),
    );
    expect(signingEnvironment().PATH?.split(":")[0]).toBe("/builder/staging_dir/host/bin");
  });
});
