import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { ContainerFile } from "./tar-pack.ts";

/** Image types a device installs, the ones worth a signature (kernels and rootfs parts are not). */
export const SIGNED_IMAGE_TYPES = [
  "sysupgrade",
  "factory",
  "combined",
  "combined-efi",
  "sdcard",
] as const;

/** The key files inside the container, next to the ImageBuilder's own `key-build`. */
export const KEY_PATH = "/builder/key-build";
export const UCERT_PATH = "/builder/key-build.ucert";

/** The ImageBuilder ships usign, ucert and fwtool among its host tools. */
const SIGNING_PATH = "/builder/staging_dir/host/bin:/usr/local/bin:/usr/bin:/bin";

export interface BuildKey {
  /** usign secret key file content. */
  secretKey: string;
  /** ucert certificate, embedded into images when present. */
  ucert?: string;
}

/** Names of the installable images of a profiles.json entry. */
export function imagesToSign(images: unknown): string[] {
  if (!Array.isArray(images)) return [];
  return images
    .filter((image) => (SIGNED_IMAGE_TYPES as readonly string[]).includes(image?.type))
    .map((image) => image.name)
    .filter((name): name is string => typeof name === "string" && name !== "");
}

/**
 * BUILD_KEY is the path of a usign secret key (its certificate, if any, at
 * `{path}.ucert`) or the key itself. Undefined when not set.
 */
export async function loadBuildKey(setting: string | undefined): Promise<BuildKey | undefined> {
  if (!setting) return undefined;
  if (!existsSync(setting)) return { secretKey: setting.endsWith("\n") ? setting : `${setting}\n` };
  const secretKey = await readFile(setting, "utf8");
  const ucertPath = `${setting}.ucert`;
  return existsSync(ucertPath)
    ? { secretKey, ucert: await readFile(ucertPath, "utf8") }
    : { secretKey };
}

/** The key files for the container's /builder, readable by buildbot alone. */
export function buildKeyFiles(key: BuildKey): ContainerFile[] {
  const files: ContainerFile[] = [{ path: "key-build", content: key.secretKey, mode: 0o600 }];
  if (key.ucert !== undefined)
    files.push({ path: "key-build.ucert", content: key.ucert, mode: 0o600 });
  return files;
}

/*
 * What the ImageBuilder does for its own builds: drop any old signature,
 * sign with usign, and with a certificate append it the way sysupgrade
 * verifies (ucert chain inside the image). Without a certificate the
 * detached `{image}.sig` is the signature. Image names come in as
 * arguments, never inside the script text.
 */
const SIGNING_SCRIPT = `set -e
cd "$1"
shift
for image in "$@"; do
  fwtool -t -s /dev/null "$image" >/dev/null 2>&1 || true
  usign -S -m "$image" -s ${KEY_PATH} -x "$image.sig"
  if [ -f ${UCERT_PATH} ]; then
    cp ${UCERT_PATH} "$image.ucert"
    ucert -A -c "$image.ucert" -x "$image.sig"
    fwtool -S "$image.ucert" "$image"
  fi
  echo "signed $image"
done
`;

export function signingCommand(binDir: string, images: readonly string[]): string[] {
  return ["sh", "-c", SIGNING_SCRIPT, "sign", binDir, ...images];
}

export function signingEnvironment(): Record<string, string> {
  return { PATH: SIGNING_PATH };
}
