import { Writable } from "node:stream";
import { createLogger } from "@asu/observability";
import { describe, expect, it } from "vitest";
import { guardPrivateBuildNetwork, UNGUARDED_WARNING } from "./private-build-guard.ts";

function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.trim()) lines.push(JSON.parse(line));
      }
      done();
    },
  });
  return { lines, logger: createLogger({ service: "server", destination }) };
}

/*
 * Where the server cannot guard its build network it says so once and runs
 * on; installing the guard for real is test/server-start.test.ts's part.
 */
describe("guardPrivateBuildNetwork", () => {
  const options = {
    // Never asked: nothing is installed, so Podman is not consulted.
    socketPath: "/nonexistent/podman.sock",
    network: "asu-build",
    allowTcpPorts: [],
    urls: [],
  };

  it("warns what is exposed when not running as root", async () => {
    const { lines, logger } = capturingLogger();
    const unguard = await guardPrivateBuildNetwork({
      ...options,
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
      logger,
      isRoot: false,
    });
    expect(unguard).toBeUndefined();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: "warn",
      msg: UNGUARDED_WARNING,
      network: "asu-build",
      reason: "not running as root",
    });
    expect(UNGUARDED_WARNING).toContain("this server's API with HOST=0.0.0.0");
  });

  it("warns when nft is missing, even as root", async () => {
    const { lines, logger } = capturingLogger();
    const unguard = await guardPrivateBuildNetwork({
      ...options,
      env: { PATH: "/nonexistent" },
      logger,
      isRoot: true,
    });
    expect(unguard).toBeUndefined();
    expect(lines.map((line) => [line.level, line.reason])).toEqual([
      ["warn", "nft not found on PATH"],
    ]);
  });

  it("warns with Podman's reason when the network cannot be read", async () => {
    const { lines, logger } = capturingLogger();
    const unguard = await guardPrivateBuildNetwork({
      ...options,
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
      logger,
      isRoot: true,
    });
    expect(unguard).toBeUndefined();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "warn", msg: UNGUARDED_WARNING });
    expect(String(lines[0]?.reason)).toMatch(/ENOENT|nonexistent/);
  });
});
