import { Buffer } from "node:buffer";
import { createPublicKey } from "node:crypto";

/** A file to place in the ImageBuilder's working directory. */
export interface KeyFile {
  path: string;
  content: string;
}

const UNTRUSTED_COMMENT = "untrusted comment:";
// A usign public key is "Ed" (2 bytes), the key number (8) and the key (32).
const KEYNUM_START = 2;
const KEYNUM_END = 10;

/** The base64 line of a usign key given bare or with its comment line. */
function usignKeyLine(key: string): string {
  const lines = key
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith(UNTRUSTED_COMMENT));
  return lines.at(-1) ?? "";
}

/**
 * The usign fingerprint (key number) of a public key: bytes 2..9 of the
 * decoded key, lower-case hex. Throws for text too short to be a key.
 */
export function usignFingerprint(key: string): string {
  const decoded = Buffer.from(usignKeyLine(key), "base64");
  if (decoded.length < KEYNUM_END) throw new Error("Not a usign public key");
  return decoded.subarray(KEYNUM_START, KEYNUM_END).toString("hex");
}

/** apk keys are PEM; anything else is taken for a usign key. */
export function isPemKey(key: string): boolean {
  return key.trim().startsWith("-----BEGIN");
}

/**
 * The key files for a request's repository_keys, relative to the
 * ImageBuilder's directory: usign keys as `keys/{fingerprint}` with a fresh
 * comment line (opkg finds them by that name), PEM keys as
 * `keys/custom-{i}.pem`, i being the key's place in the request from 0. The
 * same usign key twice gives one file.
 */
export function keyFiles(keys: readonly string[]): KeyFile[] {
  const files = new Map<string, string>();
  keys.forEach((key, index) => {
    if (isPemKey(key)) {
      files.set(`keys/custom-${index}.pem`, key);
      return;
    }
    const fingerprint = usignFingerprint(key);
    const body = key.includes(UNTRUSTED_COMMENT) ? usignKeyLine(key) : key;
    const path = `keys/${fingerprint}`;
    if (!files.has(path)) files.set(path, `untrusted comment: ${fingerprint}\n${body}`);
  });
  return [...files].map(([path, content]) => ({ path, content }));
}

const ED = Buffer.from("Ed");
// "Ed", the key number and the Ed25519 key: 42 bytes, 56 base64 characters.
const USIGN_PUBLIC_KEY = /^[A-Za-z0-9+/]{56}$/;

/**
 * Why a repository key cannot be used, or undefined when it can: a usign
 * public key (bare or with its comment line) or a PEM public key. Checked
 * when the request arrives, so a bad key is the client's 400 and not a
 * failed build.
 */
export function repositoryKeyProblem(key: string): string | undefined {
  if (isPemKey(key)) {
    try {
      createPublicKey({ key, format: "pem" });
      return undefined;
    } catch {
      return "a PEM key that is not a readable public key";
    }
  }
  const line = usignKeyLine(key);
  if (!USIGN_PUBLIC_KEY.test(line) || !Buffer.from(line, "base64").subarray(0, 2).equals(ED)) {
    return "neither a usign public key nor a PEM public key";
  }
  return undefined;
}
