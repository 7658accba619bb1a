import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AsuStack,
  ATH79_24_10_DOUBLE,
  startAsuStack,
  waitForBuild,
} from "./support/asu-stack.ts";
import { containersGone } from "./support/containers.ts";

/*
 * Wait estimates and each client's share of the queue, over real HTTP with a
 * real Redis, worker and Podman. The build tier trusts loopback as a proxy,
 * so X-Forwarded-For names the clients, as behind the gateway.
 */

const BASE = "localhost/asu-e2e-waits/imagebuilder";
const SHARE = 2;
let stack: AsuStack;

const archer = (packages: string[]) => ({
  version: "24.10.0",
  target: "ath79/generic",
  profile: "tplink,archer-c7-v5",
  packages,
});

async function post(body: unknown, client: string) {
  const res = await fetch(`${stack.buildUrl}/api/v1/build`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": client },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

beforeAll(async () => {
  stack = await startAsuStack({
    baseContainer: BASE,
    images: [ATH79_24_10_DOUBLE],
    env: { MAX_PENDING_PER_CLIENT: String(SHARE), TRUSTED_PROXIES: "127.0.0.1/32,::1" },
  });
}, 300_000);

afterAll(async () => {
  await stack?.stop();
}, 120_000);

describe("fair share and wait estimates", () => {
  const hashes: string[] = [];

  it("queues a client's share with estimates, then answers its next new build 429", async () => {
    // No worker yet: everything posted stays queued.
    for (const packages of [["luci"], ["luci", "curl"]]) {
      const answer = await post(archer(packages), "198.51.100.1");
      expect(answer.status).toBe(202);
      expect(answer.body.detail).toBe("queued");
      expect(answer.body.queue_position).toBeTypeOf("number");
      expect(Number.isInteger(answer.body.eta_seconds)).toBe(true);
      expect(answer.body.eta_seconds).toBeGreaterThan(0);
      hashes.push(answer.body.request_hash);
    }
    const [first, second] = hashes;

    const over = await post(archer(["luci", "nano"]), "198.51.100.1");
    expect(over.status).toBe(429);
    expect(over.body.detail).toMatch(/too many builds of this client waiting: 2 \(at most 2\)/);
    expect(Number(over.headers.get("retry-after"))).toBeGreaterThan(0);

    // Another client is not limited, nor are polls and builds already queued.
    const other = await post(archer(["luci", "nano"]), "198.51.100.2");
    expect(other.status).toBe(202);
    hashes.push(other.body.request_hash);
    const again = await post(archer(["luci", "curl"]), "198.51.100.1");
    expect(again.status).toBe(202);
    expect(again.body.request_hash).toBe(second);
    const poll = await fetch(`${stack.buildUrl}/api/v1/build/${first}`);
    expect(poll.status).toBe(202);
    const polled = (await poll.json()) as any;
    expect(polled.queue_position).toBe(0);
    expect(Number.isInteger(polled.eta_seconds)).toBe(true);
    // Two builds behind the next one, one cannot be expected sooner than it.
    const last = (await (
      await fetch(`${stack.buildUrl}/api/v1/build/${other.body.request_hash}`)
    ).json()) as any;
    // Fair turns: the second client's first build comes right after the first client's first.
    expect(last.queue_position).toBe(1);
    expect(last.eta_seconds).toBeGreaterThan(polled.eta_seconds);

    const home = await (await fetch(`${stack.buildUrl}/`)).text();
    expect(home).toMatch(/A new build takes<\/dt><dd data-live="eta">about \d+ (s|min)</);
  });

  it("answers a running build with its estimate and no queue_position, then admits the client again", async () => {
    const worker = await stack.startWorker({ worker_concurrency: 1 });
    try {
      // The double's slowpackage makes the manifest step take seconds: long enough to be seen running.
      const slow = await post(archer(["luci", "slowpackage"]), "198.51.100.3");
      expect(slow.status).toBe(202);
      hashes.push(slow.body.request_hash);
      let running: any;
      await expect
        .poll(
          async () => {
            running = await (
              await fetch(`${stack.buildUrl}/api/v1/build/${slow.body.request_hash}`)
            ).json();
            return running.detail;
          },
          { timeout: 180_000, interval: 100 },
        )
        .toBe("started");
      expect(running.queue_position).toBeUndefined();
      expect(Number.isInteger(running.eta_seconds)).toBe(true);
      expect(running.eta_seconds).toBeGreaterThan(0);

      for (const hash of hashes) {
        expect((await waitForBuild(stack.buildUrl, hash, 240_000)).status).toBe(200);
      }
      // Its builds started, so the first client has its whole share again.
      const admitted = await post(archer(["luci", "nano"]), "198.51.100.1");
      expect([200, 202]).toContain(admitted.status);
      const fresh = await post(archer(["luci", "e2fsprogs"]), "198.51.100.1");
      expect(fresh.status).toBe(202);
      hashes.push(fresh.body.request_hash);
      expect((await waitForBuild(stack.buildUrl, fresh.body.request_hash, 240_000)).status).toBe(
        200,
      );

      // Successful builds left their durations for the next estimates.
      const redis = stack.redis.client();
      expect(await redis.llen("asu:durations:total")).toBeGreaterThanOrEqual(hashes.length);
      expect(await redis.llen("asu:durations:building_image")).toBeGreaterThan(0);
    } finally {
      await worker.close();
      for (const hash of hashes) await containersGone(stack.docker, hash);
    }
  }, 600_000);
});
