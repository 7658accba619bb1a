import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { vi } from "vitest";
import { runPodman } from "./podman-service.ts";
import { runCommand } from "./run-command.ts";

/*
 * A stand-in for an HTTPS host (downloads.openwrt.org) on a Podman network:
 * TLS with a test CA's certificate (`caCert`) under that name as an alias,
 * relaying plain bytes to a test server.
 */

export interface TlsStandIn {
  /** PEM of the CA that signed the stand-in's certificate. */
  caCert: string;
  /** Host names the stand-in answers as. */
  hostname: string;
  stop(): Promise<void>;
}

export interface TlsStandInOptions {
  podmanEnv: Record<string, string>;
  /** Podman network the stand-in joins, with `hostname` as its alias there. */
  network: string;
  hostname: string;
  /** An image with `node` (the deployment test's base image). */
  image: string;
  /** Where the plain HTTP server is, as seen from inside the container. */
  targetHost: string;
  targetPort: number;
}

const RELAY_SCRIPT = `
import { connect } from "node:net";
import { readFileSync } from "node:fs";
import { createServer } from "node:tls";
const [host, port] = process.argv.slice(2);
// busybox's TLS client (the ImageBuilder double's wget) offers only signature
// algorithms below OpenSSL's default security level.
const server = createServer(
  {
    key: readFileSync("/stand-in/server.key"),
    cert: readFileSync("/stand-in/server.crt"),
    ciphers: "DEFAULT:@SECLEVEL=0",
  },
  (client) => {
    const upstream = connect(Number(port), host);
    client.pipe(upstream).pipe(client);
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
  },
);
server.listen(443, () => console.log("ready"));
`;

async function openssl(args: string[], cwd: string): Promise<void> {
  await runCommand("openssl", args, { cwd });
}

export async function startTlsStandIn(options: TlsStandInOptions): Promise<TlsStandIn> {
  const dir = await mkdtemp(join(tmpdir(), "asu-tls-stand-in-"));
  const name = `asu-test-stand-in-${randomBytes(4).toString("hex")}`;
  const stop = async () => {
    await runPodman(options.podmanEnv, ["rm", "-f", "-t", "0", name], { allowFailure: true });
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await openssl(
      [
        ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"],
        ...["-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=ASU test CA"],
      ],
      dir,
    );
    await openssl(
      [
        ...["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr"],
        ...["-subj", `/CN=${options.hostname}`],
      ],
      dir,
    );
    await writeFile(join(dir, "san.cnf"), `subjectAltName=DNS:${options.hostname}\n`);
    await openssl(
      [
        ...["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key"],
        ...["-CAcreateserial", "-days", "2", "-out", "server.crt", "-extfile", "san.cnf"],
      ],
      dir,
    );
    await writeFile(join(dir, "relay.mjs"), RELAY_SCRIPT);
    await chmod(join(dir, "server.key"), 0o644);
    await runPodman(options.podmanEnv, [
      ...["run", "-d", "--name", name, "--label", "asu-test=tls-stand-in"],
      ...["--network", `${options.network}:alias=${options.hostname}`],
      ...["-v", `${dir}:/stand-in:ro`, "--entrypoint", "node", options.image],
      ...["/stand-in/relay.mjs", options.targetHost, String(options.targetPort)],
    ]);
    await vi.waitFor(
      async () => {
        const logs = await runPodman(options.podmanEnv, ["logs", name], { allowFailure: true });
        if (!logs.stdout.includes("ready")) {
          throw new Error(`TLS stand-in did not start: ${logs.stdout}${logs.stderr}`);
        }
      },
      { timeout: 60_000, interval: 250 },
    );
    return {
      caCert: await readFile(join(dir, "ca.crt"), "utf8"),
      hostname: options.hostname,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
