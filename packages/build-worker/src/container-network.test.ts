import type Docker from "dockerode";
import { describe, expect, it } from "vitest";
import { checkContainerNetwork } from "./container-network.ts";

function dockerWith(
  networks: string[],
  failure?: Error,
  options?: Record<string, string>,
): { docker: Docker; asked: string[] } {
  const asked: string[] = [];
  const docker = {
    modem: {
      dial(request: { path: string }, callback: (error: unknown, data?: unknown) => void) {
        const name = decodeURIComponent(
          /\/libpod\/networks\/([^/]+)\/json$/.exec(request.path)?.[1] ?? "",
        );
        asked.push(name);
        if (failure) return callback(failure);
        if (networks.includes(name)) return callback(null, { name, options });
        callback(Object.assign(new Error("no such network"), { statusCode: 404 }));
      },
    },
  } as unknown as Docker;
  return { docker, asked };
}

describe("checkContainerNetwork", () => {
  it("accepts an existing network", async () => {
    const { docker, asked } = dockerWith(["asu-build"]);
    expect(await checkContainerNetwork(docker, "asu-build")).toEqual({ isolated: false });
    expect(asked).toEqual(["asu-build"]);
  });

  it("tells an isolated network (podman network create --opt isolate=true)", async () => {
    const { docker } = dockerWith(["asu-build"], undefined, { isolate: "true" });
    expect(await checkContainerNetwork(docker, "asu-build")).toEqual({ isolated: true });
  });

  it("accepts network modes without looking them up", async () => {
    const { docker, asked } = dockerWith([]);
    for (const mode of ["none", "host", "bridge", "slirp4netns:allow_host_loopback=true"]) {
      await checkContainerNetwork(docker, mode);
    }
    expect(asked).toEqual([]);
  });

  it("refuses a missing network with a message saying what to do", async () => {
    const { docker } = dockerWith([]);
    await expect(checkContainerNetwork(docker, "asu-bulid")).rejects.toThrow(
      'Container network "asu-bulid" does not exist: create it (podman network create --opt isolate=true asu-bulid) or set CONTAINER_NETWORK',
    );
  });

  it("passes other errors on", async () => {
    const { docker } = dockerWith([], new Error("connect ENOENT /run/podman/podman.sock"));
    await expect(checkContainerNetwork(docker, "asu-build")).rejects.toThrow(/ENOENT/);
  });
});
