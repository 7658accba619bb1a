import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freeLoopbackPort } from "../services/server/src/private-redis.ts";
import { expectListNeverServed } from "./support/completed-spellings.ts";
import { type FakeUpstream, startFakeUpstream } from "./support/fake-upstream.ts";
import { rawRequest } from "./support/raw-request.ts";
import { type RedisServer, startRedisServer } from "./support/redis-server.ts";

/*
 * The list of finished builds against the tiers as deployed: `pnpm
 * start:build` and `pnpm start:prepare` as processes of their own, real
 * sockets, a real Redis. The build tier's public port refuses the list
 * however it is spelt; its internal listener serves it, and the prepare
 * tier mirrors it from there.
 */

const COMPLETED_KEY = "asu:builds:completed";
const LISTED = "b".repeat(64);

let upstream: FakeUpstream;
let redis: RedisServer;
let publicPath: string;
let internalPort: number;
const children: ChildProcess[] = [];
let build: { url: string; internalUrl: string };

/** A tier's process, and the URLs it logged as listening, by message. */
async function startTier(main: string, env: Record<string, string>, messages: string[]) {
  const child = spawn(process.execPath, [fileURLToPath(new URL(main, import.meta.url))], {
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let output = "";
  return new Promise<string[]>((resolve, reject) => {
    const read = (chunk: Buffer) => {
      output += String(chunk);
      const urls = messages.map(
        (message) =>
          new RegExp(`"url":"(http://[^"]+)"[^\\n]*"msg":"${message}"`).exec(output)?.[1],
      );
      if (urls.every(Boolean)) resolve(urls as string[]);
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.once("exit", (code) => reject(new Error(`tier exited with ${code}: ${output}`)));
  });
}

async function stop(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  await exited;
}

beforeAll(async () => {
  upstream = await startFakeUpstream();
  redis = await startRedisServer();
  publicPath = await mkdtemp(join(tmpdir(), "asu-internal-list-"));
  internalPort = await freeLoopbackPort();
  const [url, internalUrl] = await startTier(
    "../services/build-api/src/main.ts",
    {
      UPSTREAM_URL: upstream.url,
      REDIS_URL: redis.url,
      PUBLIC_PATH: publicPath,
      INTERNAL_PORT: String(internalPort),
    },
    ["build tier listening", "build tier's internal listener[^\"]*"],
  );
  build = { url: url as string, internalUrl: internalUrl as string };
  // A build finished: what an attacker would list.
  const client = redis.client();
  await client.zadd(COMPLETED_KEY, Date.now(), LISTED);
  client.disconnect();
});

afterAll(async () => {
  await Promise.all(children.map(stop));
  await upstream?.close();
  await redis?.stop().catch(() => {});
  if (publicPath) await rm(publicPath, { recursive: true, force: true });
});

describe("the list of finished builds on the tiers as deployed", () => {
  it("is refused on the build tier's public port however its path is spelt", async () => {
    await expectListNeverServed(build.url, LISTED);
    // The port itself answers: the refusals are the route's absence, not a dead port.
    expect((await rawRequest(build.url, "/health")).status).toBe(200);
  });

  it("is served on the internal listener, on loopback by default, and nothing public is", async () => {
    expect(build.internalUrl).toBe(`http://127.0.0.1:${internalPort}`);
    const page = await rawRequest(build.internalUrl, "/api/v1/build-cache/completed");
    expect(page.status).toBe(200);
    expect(JSON.parse(page.body.toString())).toMatchObject({ hashes: [LISTED], more: false });
    const posted = await rawRequest(build.internalUrl, "/api/v1/build", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(posted.status).toBe(404);
  });

  it("is mirrored by the prepare tier from BUILD_INTERNAL_URL", async () => {
    const [prepareUrl] = await startTier(
      "../services/prepare/src/main.ts",
      {
        UPSTREAM_URL: upstream.url,
        BUILD_API_URL: build.url,
        BUILD_INTERNAL_URL: build.internalUrl,
      },
      ["prepare tier listening"],
    );
    const mirrored = async () =>
      (await rawRequest(prepareUrl as string, "/metrics")).body
        .toString()
        .split("\n")
        .filter((line) => line.startsWith("asu_build_cache_mirror_hashes{"));
    await expect.poll(mirrored).toEqual(['asu_build_cache_mirror_hashes{state="fresh"} 1']);
  });
});
