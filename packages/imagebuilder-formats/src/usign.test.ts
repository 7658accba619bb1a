import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { isPemKey, keyFiles, repositoryKeyProblem, usignFingerprint } from "./usign.ts";

// The Python server's test key.
const testKey = "RWSrHfFmlHslUcLbXFIRp+eEikWF9z1N77IJiX5Bt/nJd1a/x+L+SU89";
// A second key (42 bytes decoded, like every usign public key) with its comment line.
const releaseKeyFile =
  "untrusted comment: Public usign key for feed builds\n" +
  "RWQ/wQ2Ybr0JXswuKuXMk7lJoFmuxxdXy9efP3DPD/6ac3G+n2Ad3a0z\n";
const pemKey =
  "-----BEGIN PUBLIC KEY-----\n" +
  "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEbRk9wbw6+h2NfpoVsX1zIXx+PCGh\n" +
  "Pg1i3gSoqoPtWW1eYH6hE2SVcfNWt8nQLqMoJH4zbGGXLNwcupKq4vDAQQ==\n" +
  "-----END PUBLIC KEY-----\n";

describe("usignFingerprint", () => {
  it("is bytes 2..9 of the decoded key in lower-case hex", () => {
    expect(usignFingerprint(testKey)).toBe("ab1df166947b2551");
  });

  it("reads a key given with its comment line and surrounding blanks", () => {
    expect(usignFingerprint(releaseKeyFile)).toBe("3fc10d986ebd095e");
    expect(usignFingerprint(`\n  ${testKey}  \n\n`)).toBe("ab1df166947b2551");
    expect(usignFingerprint(`untrusted comment: x\r\n${testKey}\r\n`)).toBe("ab1df166947b2551");
  });

  it("throws for text too short to hold a key number", () => {
    expect(() => usignFingerprint("")).toThrow("Not a usign public key");
    expect(() => usignFingerprint("RWSrHfFm")).toThrow("Not a usign public key");
    expect(() => usignFingerprint("untrusted comment: only a comment\n")).toThrow();
  });
});

describe("isPemKey", () => {
  it("recognises PEM keys, leading white space allowed", () => {
    expect(isPemKey(pemKey)).toBe(true);
    expect(isPemKey(`\n  ${pemKey}`)).toBe(true);
  });

  it("takes usign keys for what they are", () => {
    expect(isPemKey(testKey)).toBe(false);
    expect(isPemKey(releaseKeyFile)).toBe(false);
    expect(isPemKey("")).toBe(false);
  });
});

describe("keyFiles", () => {
  it("writes a bare usign key under its fingerprint with a comment line", () => {
    expect(keyFiles([testKey])).toEqual([
      { path: "keys/ab1df166947b2551", content: `untrusted comment: ab1df166947b2551\n${testKey}` },
    ]);
  });

  it("replaces a key's own comment line instead of stacking a second one", () => {
    expect(keyFiles([releaseKeyFile])).toEqual([
      {
        path: "keys/3fc10d986ebd095e",
        content:
          "untrusted comment: 3fc10d986ebd095e\nRWQ/wQ2Ybr0JXswuKuXMk7lJoFmuxxdXy9efP3DPD/6ac3G+n2Ad3a0z",
      },
    ]);
  });

  it("numbers PEM keys by their place among all keys, from 0", () => {
    expect(keyFiles([testKey, pemKey, releaseKeyFile, pemKey])).toEqual([
      { path: "keys/ab1df166947b2551", content: `untrusted comment: ab1df166947b2551\n${testKey}` },
      { path: "keys/custom-1.pem", content: pemKey },
      {
        path: "keys/3fc10d986ebd095e",
        content:
          "untrusted comment: 3fc10d986ebd095e\nRWQ/wQ2Ybr0JXswuKuXMk7lJoFmuxxdXy9efP3DPD/6ac3G+n2Ad3a0z",
      },
      { path: "keys/custom-3.pem", content: pemKey },
    ]);
  });

  it("writes one file for the same usign key given twice", () => {
    expect(keyFiles([testKey, `untrusted comment: again\n${testKey}`])).toEqual([
      { path: "keys/ab1df166947b2551", content: `untrusted comment: ab1df166947b2551\n${testKey}` },
    ]);
  });

  it("writes nothing for no keys", () => {
    expect(keyFiles([])).toEqual([]);
  });

  it("throws for a key that is neither PEM nor usign", () => {
    expect(() => keyFiles(["not a key"])).toThrow("Not a usign public key");
  });
});

describe("repositoryKeyProblem", () => {
  const { publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const pem = publicKey.export({ format: "pem", type: "spki" }).toString();

  it("accepts usign public keys, bare or with their comment line, and PEM public keys", () => {
    expect(repositoryKeyProblem(testKey)).toBeUndefined();
    expect(repositoryKeyProblem(`untrusted comment: x\n${testKey}\n`)).toBeUndefined();
    expect(repositoryKeyProblem(pem)).toBeUndefined();
  });

  it.each([
    "x",
    "",
    testKey.slice(0, -4),
    // A base64 line of the right length that is not an Ed key.
    Buffer.alloc(42, 1).toString("base64"),
  ])("refuses %j as a usign key", (key) => {
    expect(repositoryKeyProblem(key)).toBe("neither a usign public key nor a PEM public key");
  });

  it("refuses a PEM block that is not a public key", () => {
    expect(repositoryKeyProblem("-----BEGIN PUBLIC KEY-----\nxyz\n-----END PUBLIC KEY-----")).toBe(
      "a PEM key that is not a readable public key",
    );
  });
});
