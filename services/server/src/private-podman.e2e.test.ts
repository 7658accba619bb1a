import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { podmanRequest } from "./podman-api.ts";
import { ensurePodmanNetwork } from "./podman-network.ts";
import { type PrivatePodman, startPrivatePodman } from "./private-podman.ts";

let workDir: string;
let podman: PrivatePodman;
const network = `asu-server-unit-${randomBytes(4).toString("hex")}`;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "asu-private-podman-"));
  // Deeper than a unix socket path may be: the socket goes to a temp dir instead.
  const deep = join(workDir, "d".repeat(60), "e".repeat(40), "podman");
  podman = await startPrivatePodman({ program: "podman", dir: deep });
}, 60_000);

afterAll(async () => {
  if (podman) {
    await podmanRequest(podman.socketPath, "DELETE", `/v4.0.0/libpod/networks/${network}`).catch(
      () => {},
    );
    await podman.stop();
  }
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe("startPrivatePodman", () => {
  it("serves the API on a socket short enough to bind", async () => {
    expect(podman.socketPath.startsWith(tmpdir())).toBe(true);
    expect(podman.socketPath.length).toBeLessThanOrEqual(100);
    const ping = await podmanRequest(podman.socketPath, "GET", "/_ping");
    expect(ping).toEqual({ status: 200, body: "OK" });
  });
});

describe("ensurePodmanNetwork", () => {
  it("creates a missing network once and leaves network modes alone", async () => {
    expect(await ensurePodmanNetwork(podman.socketPath, network)).toBe(true);
    expect(await ensurePodmanNetwork(podman.socketPath, network)).toBe(false);
    const exists = await podmanRequest(
      podman.socketPath,
      "GET",
      `/v4.0.0/libpod/networks/${network}/exists`,
    );
    expect(exists.status).toBe(204);
    // Isolated: builds on it cannot reach containers of other isolated networks.
    const inspected = await podmanRequest(
      podman.socketPath,
      "GET",
      `/v4.0.0/libpod/networks/${network}/json`,
    );
    expect(JSON.parse(inspected.body).options).toMatchObject({ isolate: "true" });
    expect(await ensurePodmanNetwork(podman.socketPath, "none")).toBe(false);
    expect(
      await ensurePodmanNetwork(podman.socketPath, "slirp4netns:port_handler=slirp4netns"),
    ).toBe(false);
  });
});

describe("stop", () => {
  it("ends the service and removes its temporary socket folder", async () => {
    const second = await startPrivatePodman({ program: "podman", dir: join(workDir, "short") });
    expect(second.socketPath).toBe(join(workDir, "short", "podman.sock"));
    const { pid } = second.child;
    await second.stop();
    expect(second.child.isRunning()).toBe(false);
    expect(() => process.kill(pid, 0)).toThrow();
    expect(existsSync(second.socketPath)).toBe(false);

    const deep = await startPrivatePodman({
      program: "podman",
      dir: join(workDir, "f".repeat(120)),
    });
    const folder = join(deep.socketPath, "..");
    await deep.stop();
    expect(existsSync(folder)).toBe(false);
  }, 60_000);

  it("reports a service that exits at once", async () => {
    const start = startPrivatePodman({ program: "/bin/false", dir: join(workDir, "bad") });
    await expect(start).rejects.toThrow(/^podman system service exited \(exit code 1\)/);
    expect(existsSync(join(workDir, "bad", "podman.sock"))).toBe(false);
  });
});
