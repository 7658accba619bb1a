import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execInContainer } from "./support/containers.ts";
import { FIXTURE_REVISION_24_10, startFakeUpstream } from "./support/fake-upstream.ts";
import {
  buildImagebuilderDouble,
  defaultPackagesFor,
  imagebuilderDoubleRef,
  isStaticElf,
  mirrorFiles,
  PROFILE_PRESETS,
  tarArchive,
  versionPathFor,
} from "./support/imagebuilder-double.ts";
import { BUILD_NETWORK, type PodmanService, startPodmanService } from "./support/podman-service.ts";
import { startTcpRelay } from "./support/tcp-relay.ts";

const DOUBLE_DIR = new URL("./imagebuilder-double/", import.meta.url);
const REQUEST_HASH = "a".repeat(64);
const BIN_DIR = `/builder/${REQUEST_HASH}`;
const EXTRA = "0123456789ab";

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

function feed(flavour: "opkg" | "apk"): Map<string, { version: string; deps: string[] }> {
  const text = readFileSync(new URL(`packages-${flavour}.txt`, DOUBLE_DIR), "utf8");
  const packages = new Map<string, { version: string; deps: string[] }>();
  for (const line of text.split("\n")) {
    if (!line.trim() || line.startsWith("#")) continue;
    const [name = "", version = "", ...deps] = line.trim().split(/\s+/);
    packages.set(name, { version, deps });
  }
  return packages;
}

/** Reads the tar that the archive API returns (ustar, with pax or GNU long names). */
function readTar(archive: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let offset = 0;
  let longName: string | undefined;
  while (offset + 512 <= archive.length) {
    const header = archive.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const field = (start: number, length: number) =>
      header.toString("utf8", start, start + length).replace(/\0.*$/s, "");
    const size = Number.parseInt(field(124, 12).trim() || "0", 8);
    const type = field(156, 1) || "0";
    const prefix = field(345, 155);
    const body = archive.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === "x") {
      const path = /\d+ path=([^\n]*)\n/.exec(body.toString("utf8"));
      if (path) longName = path[1];
      continue;
    }
    if (type === "L") {
      longName = body.toString("utf8").replace(/\0.*$/s, "");
      continue;
    }
    const name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    longName = undefined;
    if (type === "0") files.set(name, Buffer.from(body));
  }
  return files;
}

describe("ImageBuilder double data", () => {
  for (const flavour of ["opkg", "apk"] as const) {
    it(`${flavour}: every dependency, conflict, default and preset device package is in the feed`, () => {
      const packages = feed(flavour);
      const conflicts = readFileSync(new URL("conflicts.txt", DOUBLE_DIR), "utf8")
        .split("\n")
        .filter((line) => line.trim() && !line.startsWith("#"))
        .flatMap((line) => line.trim().split(/\s+/));
      const presets = Object.values(PROFILE_PRESETS).flatMap((profiles) =>
        profiles.flatMap((profile) => profile.devicePackages.map((name) => name.replace(/^-/, ""))),
      );
      const defaults = Object.keys(PROFILE_PRESETS).flatMap((target) =>
        defaultPackagesFor(target, flavour),
      );
      const wanted = [
        ...[...packages.values()].flatMap(({ deps }) => deps),
        ...conflicts,
        ...presets,
        ...defaults,
        "kernel",
        "bigpackage",
        "dnsmasq-full",
      ];
      expect(wanted.filter((name) => !packages.has(name))).toEqual([]);
    });
  }

  it("the apk flavour ships apk-mbedtls where the opkg flavour ships opkg", () => {
    expect(defaultPackagesFor("ath79/generic", "opkg")).toContain("opkg");
    expect(defaultPackagesFor("ath79/generic", "apk")).not.toContain("opkg");
    expect(defaultPackagesFor("ath79/generic", "apk")).toContain("apk-mbedtls");
    expect(feed("apk").has("opkg")).toBe(false);
    expect(feed("opkg").has("apk-mbedtls")).toBe(false);
  });

  it("names images the way the worker looks for them", () => {
    expect(imagebuilderDoubleRef({ target: "ath79/generic", tag: "v24.10.0" })).toBe(
      "localhost/asu-test/imagebuilder:ath79-generic-v24.10.0",
    );
    expect(
      imagebuilderDoubleRef({ target: "x86/64", tag: "master", baseContainer: "localhost/x" }),
    ).toBe("localhost/x:x86-64-master");
    expect(versionPathFor("SNAPSHOT")).toBe("snapshots");
    expect(versionPathFor("24.10-SNAPSHOT")).toBe("releases/24.10-SNAPSHOT");
    expect(versionPathFor("24.10.0")).toBe("releases/24.10.0");
  });

  it("writes ustar archives that GNU tar reads back with owners and modes", () => {
    const archive = tarArchive([
      { path: "builder", kind: "dir", mode: 0o755, uid: 1000, gid: 1000 },
      { path: "builder/a.txt", kind: "file", mode: 0o644, content: Buffer.from("hello\n") },
      { path: "bin/sh", kind: "symlink", mode: 0o777, linkTarget: "busybox" },
    ]);
    expect(archive.length % 512).toBe(0);
    const listing = execFileSync("tar", ["-tvf", "-", "--numeric-owner"], { input: archive })
      .toString()
      .split("\n")
      .filter(Boolean)
      .map((line) => line.replace(/\s+\d{4}-\d\d-\d\d \d\d:\d\d/, ""));
    expect(listing).toEqual([
      "drwxr-xr-x 1000/1000         0 builder/",
      "-rw-r--r-- 0/0               6 builder/a.txt",
      "lrwxrwxrwx 0/0               0 bin/sh -> busybox",
    ]);
    expect(readTar(archive).get("builder/a.txt")?.toString()).toBe("hello\n");
  });

  it("tells static from dynamic ELF binaries", () => {
    expect(isStaticElf(readFileSync(process.execPath))).toBe(false);
    expect(isStaticElf(Buffer.from("#!/bin/sh\n"))).toBe(false);
  });
});

describe("ImageBuilder double in Podman", () => {
  let service: PodmanService | undefined;
  let docker: Docker;
  let opkgImage: string;
  let apkImage: string;

  beforeAll(async () => {
    service = await startPodmanService();
    docker = new Docker({ socketPath: service.socketPath });
    [opkgImage, apkImage] = await Promise.all([
      buildImagebuilderDouble(service, {
        tag: "v24.10.0",
        flavour: "opkg",
        version: "24.10.0",
        revision: FIXTURE_REVISION_24_10,
        target: "ath79/generic",
      }),
      buildImagebuilderDouble(service, {
        tag: "master",
        flavour: "apk",
        version: "SNAPSHOT",
        revision: "r29102-4b8c1b4e0f",
        target: "x86/64",
      }),
    ]);
  }, 300_000);

  afterAll(async () => {
    await service?.stop();
  });

  /** A build container with the contract's hardening, removed whatever happens. */
  async function withBuildContainer(
    image: string,
    use: (container: Docker.Container) => Promise<void>,
  ): Promise<void> {
    const container = await docker.createContainer({
      Image: image,
      Cmd: ["sleep", "600"],
      HostConfig: {
        CapDrop: ["ALL"],
        SecurityOpt: ["no-new-privileges"],
        Privileged: false,
        // Podman's default tmpfs is mode 1777, so buildbot can write BIN_DIR.
        Tmpfs: { [BIN_DIR]: "" },
        NetworkMode: BUILD_NETWORK,
      },
    });
    try {
      await container.start();
      await use(container);
    } finally {
      await container.remove({ force: true });
    }
  }

  const exec = (container: Docker.Container, cmd: string[], env: string[] = []) =>
    execInContainer(docker, container, cmd, { Env: env, User: "buildbot", WorkingDir: "/builder" });

  async function binDir(container: Docker.Container): Promise<Map<string, Buffer>> {
    const stream = await container.getArchive({ path: BIN_DIR });
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    const files = new Map<string, Buffer>();
    for (const [name, content] of readTar(Buffer.concat(chunks))) {
      files.set(name.replace(`${REQUEST_HASH}/`, ""), content);
    }
    return files;
  }

  /** Checks profiles.json against the files next to it; returns it. */
  function checkImages(files: Map<string, Buffer>, profile: string) {
    const json = JSON.parse(files.get("profiles.json")?.toString("utf8") ?? "null");
    const entry = json.profiles[profile];
    expect(entry.images.length).toBeGreaterThan(0);
    for (const image of entry.images) {
      const file = files.get(image.name);
      expect(file, image.name).toBeDefined();
      expect(sha256(file as Buffer)).toBe(image.sha256);
    }
    return json;
  }

  it("builds both flavours under the names the worker expects", () => {
    expect(opkgImage).toBe("localhost/asu-test/imagebuilder:ath79-generic-v24.10.0");
    expect(apkImage).toBe("localhost/asu-test/imagebuilder:x86-64-master");
  });

  it("reuses an unchanged image and rebuilds a changed one", async () => {
    const options = {
      tag: "v24.10.0",
      flavour: "opkg",
      version: "24.10.0",
      revision: FIXTURE_REVISION_24_10,
      target: "ath79/generic",
      baseContainer: "localhost/asu-test/imagebuilder-cache-check",
    } as const;
    const first = await buildImagebuilderDouble(service as PodmanService, options);
    const firstId = (await docker.getImage(first).inspect()).Id;
    expect(firstId).toBe((await docker.getImage(opkgImage).inspect()).Id);
    const changed = await buildImagebuilderDouble(service as PodmanService, {
      ...options,
      revision: "r28428-0000000000",
    });
    expect(changed).toBe(first);
    expect((await docker.getImage(changed).inspect()).Id).not.toBe(firstId);
  });

  it("opkg release: info, manifest, failures and image", async () => {
    await withBuildContainer(opkgImage, async (container) => {
      const who = await exec(container, ["sh", "-c", "id -un; pwd; test -f repositories.conf"]);
      expect(who).toEqual({ code: 0, stdout: "buildbot\n/builder\n", stderr: "" });
      const hardening = await exec(container, [
        "grep",
        "-E",
        "^(CapEff|NoNewPrivs):",
        "/proc/self/status",
      ]);
      expect(hardening.stdout).toBe("CapEff:\t0000000000000000\nNoNewPrivs:\t1\n");
      const inspected = await container.inspect();
      expect(Object.keys(inspected.NetworkSettings.Networks)).toEqual([BUILD_NETWORK]);

      const info = await exec(container, ["make", "info"]);
      expect(info.code).toBe(0);
      const defaults = defaultPackagesFor("ath79/generic", "opkg").join(" ");
      expect(info.stdout).toContain(
        [
          'Current Target: "ath79/generic"',
          'Current Architecture: "mips"',
          `Current Revision: "${FIXTURE_REVISION_24_10}"`,
          `Default Packages: ${defaults}`,
          "Available Profiles:",
          "",
          "tplink_archer-c7-v5:",
          "    TP-Link Archer C7 v5",
          "    Packages: kmod-usb2 kmod-usb-ledtrig-usbport kmod-ath10k-ct ath10k-firmware-qca988x-ct",
          "    hasImageMetadata: 1",
          "    SupportedDevices: tplink,archer-c7-v5 archer-c7-v5",
          "",
        ].join("\n"),
      );
      expect(info.stdout).toContain(
        "alfa-network_ap121f:\n    ALFA Network AP121F\n    Packages: kmod-usb-chipidea2 kmod-usb-storage -swconfig\n",
      );

      const manifest = await exec(container, [
        "make",
        "manifest",
        "PROFILE=tplink_archer-c7-v5",
        "PACKAGES=luci -ppp -ppp-mod-pppoe",
        "STRIP_ABI=1",
      ]);
      expect(manifest.code).toBe(0);
      expect(manifest.stderr).toBe("");
      const lines = manifest.stdout.trimEnd().split("\n");
      for (const line of lines) expect(line).toMatch(/^[\w.+-]+ - [\w.+~-]+$/);
      expect(lines).toEqual([...lines].sort());
      expect(lines).toContain("luci - 25.033.27781~eaa84a1-r1");
      expect(lines).toContain("luci-base - 25.033.27781~eaa84a1-r1"); // a dependency
      expect(lines).toContain("kmod-ath10k-ct - 6.6.73+2023.11.22~e6f5f3cd-r1"); // the profile's
      expect(lines).toContain("kernel - 6.6.73-1-d8c2d5a3dd0d5e47b3a2c8bdcbe7c9b4");
      expect(lines.filter((line) => /^(ppp|ppp-mod-pppoe|kmod-ppp) /.test(line))).toEqual([]);

      const unknown = await exec(container, [
        "make",
        "manifest",
        "PROFILE=tplink_archer-c7-v5",
        "PACKAGES=luci foo",
        "STRIP_ABI=1",
      ]);
      expect(unknown.code).toBe(2);
      expect(unknown.stdout).toBe("Unknown package 'foo'.\n");
      expect(unknown.stderr).toMatch(
        /^Collected errors:\n \* opkg_install_cmd: Cannot install package foo\.\nmake\[2\]: \*\*\* /,
      );

      const conflict = await exec(container, [
        "make",
        "manifest",
        "PROFILE=tplink_archer-c7-v5",
        "PACKAGES=dnsmasq-full",
        "STRIP_ABI=1",
      ]);
      expect(conflict.code).toBe(2);
      expect(conflict.stderr).toContain(
        [
          "Collected errors:",
          " * check_conflicts_for: The following packages conflict with dnsmasq-full:",
          " * check_conflicts_for: \tdnsmasq * ",
          " * opkg_install_cmd: Cannot install package dnsmasq-full.",
          "",
        ].join("\n"),
      );
      // Removing the default is how a client swaps it.
      const swapped = await exec(container, [
        "make",
        "manifest",
        "PROFILE=tplink_archer-c7-v5",
        "PACKAGES=dnsmasq-full -dnsmasq",
      ]);
      expect(swapped.code).toBe(0);
      expect(swapped.stdout).toContain("dnsmasq-full - 2.90-r4\n");

      const badProfile = await exec(container, ["make", "manifest", "PROFILE=nope"]);
      expect(badProfile.code).toBe(2);
      expect(badProfile.stdout).toBe(
        'Profile "nope" does not exist!\nUse "make info" to get a list of available profile names.\n',
      );

      const defaultsScript = "uci set system.@system[0].hostname='asu'\n";
      await container.putArchive(
        tarArchive([
          { path: "asu-files", kind: "dir", mode: 0o755, uid: 1000, gid: 1000 },
          { path: "asu-files/etc", kind: "dir", mode: 0o755, uid: 1000, gid: 1000 },
          { path: "asu-files/etc/uci-defaults", kind: "dir", mode: 0o755, uid: 1000, gid: 1000 },
          {
            path: "asu-files/etc/uci-defaults/99-asu-defaults",
            kind: "file",
            mode: 0o644,
            uid: 1000,
            gid: 1000,
            content: Buffer.from(defaultsScript),
          },
        ]),
        { path: "/builder" },
      );
      const image = await exec(container, [
        "make",
        "image",
        "PROFILE=tplink_archer-c7-v5",
        "PACKAGES=luci -ppp -ppp-mod-pppoe",
        `EXTRA_IMAGE_NAME=${EXTRA}`,
        `BIN_DIR=${BIN_DIR}`,
        "FILES=/builder/asu-files",
      ]);
      expect(image.stderr).toBe("");
      expect(image.code).toBe(0);

      const files = await binDir(container);
      const prefix = `openwrt-24.10.0-${EXTRA}-ath79-generic-tplink_archer-c7-v5`;
      expect([...files.keys()].sort()).toEqual([
        `${prefix}-initramfs-kernel.bin`,
        `${prefix}-squashfs-factory.bin`,
        `${prefix}-squashfs-sysupgrade.bin`,
        `${prefix}.manifest`,
        "profiles.json",
      ]);
      const json = checkImages(files, "tplink_archer-c7-v5");
      expect({ ...json, profiles: undefined }).toEqual({
        arch_packages: "mips_24kc",
        default_packages: defaultPackagesFor("ath79/generic", "opkg"),
        metadata_version: 1,
        profiles: undefined,
        source_date_epoch: 1737936000,
        target: "ath79/generic",
        version_code: FIXTURE_REVISION_24_10,
        version_number: "24.10.0",
      });
      const profile = json.profiles["tplink_archer-c7-v5"];
      expect(profile.image_prefix).toBe(prefix);
      expect(profile.supported_devices).toEqual(["tplink,archer-c7-v5", "archer-c7-v5"]);
      expect(profile.titles).toEqual([{ model: "Archer C7", variant: "v5", vendor: "TP-Link" }]);
      const sysupgrade = profile.images.find(
        (entry: { type: string }) => entry.type === "sysupgrade",
      );
      expect(sysupgrade.filesystem).toBe("squashfs");
      expect(sysupgrade.sha256_unsigned).not.toBe(sysupgrade.sha256);
      expect(files.get(`${prefix}.manifest`)?.toString()).toBe(manifest.stdout);
      const content = files.get(`${prefix}-squashfs-sysupgrade.bin`)?.toString() ?? "";
      expect(content).toContain(`--- files: /etc/uci-defaults/99-asu-defaults\n${defaultsScript}`);
      expect(content).toContain("src imagebuilder file:packages\n");
      expect(content).toContain("--- keys/d310c6f2833e97f7\nuntrusted comment: ");

      const tooBig = await exec(container, [
        "make",
        "image",
        "PROFILE=tplink_archer-c7-v5",
        "PACKAGES=bigpackage",
        `BIN_DIR=${BIN_DIR}/big`,
      ]);
      expect(tooBig.code).not.toBe(0);
      expect(tooBig.stderr).toMatch(
        /WARNING: Image file \S+-squashfs-sysupgrade\.bin is too big: /,
      );
    });
  });

  it("apk snapshot: setup.sh, info, manifest, failures and image", async () => {
    await withBuildContainer(apkImage, async (container) => {
      const early = await exec(container, ["make", "info"]);
      expect(early).toEqual({
        code: 2,
        stdout: "",
        stderr: "make: *** No rule to make target 'info'.  Stop.\n",
      });

      const noTarget = await exec(container, ["sh", "setup.sh"]);
      expect(noTarget.code).toBe(1);
      expect(noTarget.stderr).toBe("setup.sh: TARGET is not set\n");

      const wrongPath = await exec(
        container,
        ["sh", "setup.sh"],
        ["TARGET=x86/64", "VERSION_PATH=releases/24.10.0"],
      );
      expect(wrongPath.code).toBe(1);

      const setup = await exec(
        container,
        ["sh", "setup.sh"],
        ["TARGET=x86/64", "VERSION_PATH=snapshots"],
      );
      expect(setup.code).toBe(0);
      const ran = await exec(container, ["sh", "-c", "cat .setup-ran; test -f repositories"]);
      expect(ran).toEqual({
        code: 0,
        stdout: "TARGET=x86/64\nVERSION_PATH=snapshots\n",
        stderr: "",
      });

      const info = await exec(container, ["make", "info"]);
      expect(info.code).toBe(0);
      expect(info.stdout).toMatch(/^Current Target: "x86\/64"\n/);
      expect(/Current Revision: "(r.+)"/.exec(info.stdout)?.[1]).toBe("r29102-4b8c1b4e0f");
      expect(/Default Packages: (.*)\n/.exec(info.stdout)?.[1]).toBe(
        defaultPackagesFor("x86/64", "apk").join(" "),
      );
      // The worker's profile-packages pattern, and no SupportedDevices for x86.
      expect(info.stdout).toMatch(
        /\ngeneric:\n {4}Generic x86\/64\n {4}Packages: kmod-amazon-ena [^\n]* kmod-tg3\n {4}hasImageMetadata: 1\n$/,
      );

      const manifest = await exec(container, [
        "make",
        "manifest",
        "PROFILE=generic",
        "PACKAGES=luci",
        "STRIP_ABI=1",
      ]);
      expect(manifest.code).toBe(0);
      const lines = manifest.stdout.trimEnd().split("\n");
      for (const line of lines) expect(line).toMatch(/^[\w.+-]+ [\w.+~-]+$/);
      expect(lines).toContain("apk-mbedtls 3.0.0_pre20250108-r1");
      expect(lines).toContain("luci-app-package-manager 25.033.27781~eaa84a1-r1");
      expect(lines).toContain("kmod-igc 6.6.73-r1");

      const unknown = await exec(container, [
        "make",
        "manifest",
        "PROFILE=generic",
        "PACKAGES=foo luci",
      ]);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(
        /^ERROR: unable to select packages:\n {2}foo \(no such package\):\n {4}required by: world\[foo\]\nmake\[2\]: /,
      );

      const conflict = await exec(container, [
        "make",
        "manifest",
        "PROFILE=generic",
        "PACKAGES=dnsmasq-full",
      ]);
      expect(conflict.code).toBe(2);
      expect(conflict.stderr).toContain(
        [
          "ERROR: unable to select packages:",
          "  dnsmasq-2.90-r4:",
          "    conflicts: dnsmasq-full-2.90-r4[dnsmasq=2.90-r4]",
          "    satisfies: world[dnsmasq]",
          "  dnsmasq-full-2.90-r4:",
          "    conflicts: dnsmasq-2.90-r4[dnsmasq=2.90-r4]",
          "    satisfies: world[dnsmasq-full]",
          "",
        ].join("\n"),
      );

      const image = await exec(container, [
        "make",
        "image",
        "PROFILE=generic",
        "PACKAGES=luci",
        `EXTRA_IMAGE_NAME=${EXTRA}`,
        `BIN_DIR=${BIN_DIR}`,
        "ROOTFS_PARTSIZE=512",
        "ROOTFS_FILESYSTEM=squashfs",
      ]);
      expect(image.stderr).toBe("");
      expect(image.code).toBe(0);
      const files = await binDir(container);
      const prefix = `openwrt-${EXTRA}-x86-64-generic`;
      expect([...files.keys()].sort()).toEqual([
        `${prefix}-squashfs-combined-efi.img.gz`,
        `${prefix}-squashfs-combined.img.gz`,
        `${prefix}-squashfs-rootfs.img.gz`,
        `${prefix}.manifest`,
        "profiles.json",
      ]);
      const json = checkImages(files, "generic");
      expect(json.version_number).toBe("SNAPSHOT");
      expect(json.version_code).toBe("r29102-4b8c1b4e0f");
      expect(json.profiles.generic.supported_devices).toEqual([]);
      expect(json.profiles.generic.titles).toEqual([{ model: "x86/64", vendor: "Generic" }]);
      const rootfs = gunzipSync(files.get(`${prefix}-squashfs-rootfs.img.gz`) as Buffer).toString();
      expect(rootfs).toContain("rootfs_partsize: 512\n");
      expect(rootfs).toContain(
        "--- repositories\nhttps://downloads.openwrt.org/snapshots/targets/x86/64/packages/packages.adb\n",
      );

      const tiny = await exec(container, [
        "make",
        "image",
        "PROFILE=generic",
        `BIN_DIR=${BIN_DIR}/tiny`,
        "ROOTFS_PARTSIZE=1",
      ]);
      expect(tiny.code).not.toBe(0);
      expect(tiny.stderr).toContain("is too big");
    });
  });

  it("with downloadPackages, make image fetches indexes and packages through the repository file", async () => {
    const options = {
      tag: "v24.10.0",
      flavour: "opkg",
      version: "24.10.0",
      revision: FIXTURE_REVISION_24_10,
      target: "ath79/generic",
      baseContainer: "localhost/asu-test/imagebuilder-downloads",
      downloadPackages: true,
    } as const;
    const image = await buildImagebuilderDouble(service as PodmanService, options);
    const upstream = await startFakeUpstream();
    const relay = await startTcpRelay({
      host: "0.0.0.0",
      targetPort: Number(new URL(upstream.url).port),
    });
    try {
      for (const [path, content] of await mirrorFiles(options)) upstream.addFile(path, content);
      await withBuildContainer(image, async (container) => {
        // As a mirror or cache in the repository file would be: another base URL.
        const mirror = `http://host.containers.internal:${relay.port}`;
        const rewrite = await exec(container, [
          "sed",
          "-i",
          `s#https://downloads.openwrt.org#${mirror}#`,
          "repositories.conf",
        ]);
        expect(rewrite.code).toBe(0);
        const args = [
          "make",
          "image",
          "PROFILE=tplink_archer-c7-v5",
          "PACKAGES=luci",
          `BIN_DIR=${BIN_DIR}`,
          `EXTRA_IMAGE_NAME=${EXTRA}`,
        ];
        const built = await exec(container, args);
        expect(built.stderr).toBe("");
        expect(built.code).toBe(0);
        const paths = upstream.requests.map((request) => request.path);
        const feeds = ["base", "luci", "packages", "routing", "telephony"];
        expect(paths.filter((path) => path.endsWith("/Packages.gz")).sort()).toEqual(
          [
            "/releases/24.10.0/targets/ath79/generic/packages/Packages.gz",
            ...feeds.map((feed) => `/releases/24.10.0/packages/mips_24kc/${feed}/Packages.gz`),
          ].sort(),
        );
        const luci = feed("opkg").get("luci")?.version;
        expect(paths).toContain(
          `/releases/24.10.0/targets/ath79/generic/packages/luci_${luci}_mips_24kc.ipk`,
        );
        expect(built.stdout).toContain(`Downloading ${mirror}/releases/24.10.0/targets/ath79/`);

        // A feed nobody answers fails the build as opkg does.
        await upstream.setDown(true);
        const failed = await exec(container, args);
        expect(failed.code).toBe(2);
        expect(failed.stderr).toContain(
          ` * opkg_download_backend: Failed to download ${mirror}/releases/24.10.0/targets/ath79/generic/packages/Packages.gz`,
        );
        expect(failed.stderr).toContain("make: *** [Makefile:312: image] Error 2");
      });
    } finally {
      await relay.close();
      await upstream.close();
    }
  }, 300_000);
});
