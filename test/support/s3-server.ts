import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

export interface S3Server {
  /** `http://127.0.0.1:{port}`: S3_ENDPOINT, path-style. */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
  /*
   * The tests' own view of the bucket, over S3's REST API (s3rver accepts
   * anonymous requests), independent of the code under test and its SDK.
   */
  createBucket(name: string): Promise<void>;
  /** Every key under a prefix (ListObjectsV2, one page: tests store few objects). */
  listKeys(bucket: string, prefix: string): Promise<string[]>;
  getObject(bucket: string, key: string): Promise<Response>;
  stop(): Promise<void>;
}

/*
 * s3rver signs ListObjectsV2 continuation tokens with DES, which OpenSSL 3
 * offers only through its legacy provider; so it runs in a node of its own
 * with that provider on (and the test process stays as it is). It exits
 * when its stdin closes, so a crashed test leaves no server behind.
 */
const SERVER_SCRIPT = `
const S3rver = require(process.argv[1]);
const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: process.argv[2] });
server.run().then(({ port }) => process.stdout.write(JSON.stringify({ port }) + "\\n"));
process.stdin.on("end", () => process.exit(0)).resume();
`;

/** s3rver's only account. */
const CREDENTIALS = { accessKey: "S3RVER", secretKey: "S3RVER" };

function unescapeXml(text: string): string {
  const entities: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
  return text.replace(/&(amp|lt|gt|quot|apos);/g, (_all, name: string) => entities[name] ?? "");
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** A fake S3 (s3rver) on a free port, with its data in a fresh temporary folder. */
export async function startS3Server(): Promise<S3Server> {
  const directory = await mkdtemp(join(tmpdir(), "asu-s3rver-"));
  const s3rverPath = createRequire(import.meta.url).resolve("s3rver");
  const child = spawn(
    process.execPath,
    ["--openssl-legacy-provider", "-e", SERVER_SCRIPT, s3rverPath, directory],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.once("line", (line) => resolve((JSON.parse(line) as { port: number }).port));
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`s3rver exited (${code}) before listening`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const objectUrl = (bucket: string, key: string) =>
    `${endpoint}/${bucket}/${key.split("/").map(encodeURIComponent).join("/")}`;

  return {
    endpoint,
    ...CREDENTIALS,
    region: "us-east-1",
    async createBucket(name) {
      const res = await fetch(`${endpoint}/${name}`, { method: "PUT" });
      if (!res.ok) throw new Error(`CreateBucket ${name}: ${res.status} ${await res.text()}`);
    },
    async listKeys(bucket, prefix) {
      const query = new URLSearchParams({ "list-type": "2", prefix });
      const res = await fetch(`${endpoint}/${bucket}?${query}`);
      const xml = await res.text();
      if (!res.ok) throw new Error(`ListObjectsV2 ${bucket}: ${res.status} ${xml}`);
      if (xml.includes("<IsTruncated>true</IsTruncated>")) throw new Error("more than one page");
      return [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((match) => unescapeXml(match[1] ?? ""));
    },
    getObject(bucket, key) {
      return fetch(objectUrl(bucket, key));
    },
    async stop() {
      child.kill("SIGTERM");
      await exited(child);
      await rm(directory, { recursive: true, force: true });
    },
  };
}
