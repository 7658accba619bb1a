import { describe, expect, it } from "vitest";
import { containerSocketPath } from "./socket-path.ts";

describe("containerSocketPath", () => {
  const none = () => false;
  const all = () => true;

  it("takes CONTAINER_SOCKET_PATH when set", () => {
    expect(
      containerSocketPath("/srv/podman.sock", { XDG_RUNTIME_DIR: "/run/user/1000" }, all),
    ).toBe("/srv/podman.sock");
  });

  it("prefers the rootless socket when it exists", () => {
    expect(containerSocketPath(undefined, { XDG_RUNTIME_DIR: "/run/user/1000/" }, all)).toBe(
      "/run/user/1000/podman/podman.sock",
    );
    const seen: string[] = [];
    expect(
      containerSocketPath(undefined, { XDG_RUNTIME_DIR: "/run/user/1000" }, (path) => {
        seen.push(path);
        return false;
      }),
    ).toBe("/run/podman/podman.sock");
    expect(seen).toEqual(["/run/user/1000/podman/podman.sock"]);
  });

  it("falls back to the system socket", () => {
    expect(containerSocketPath(undefined, {}, none)).toBe("/run/podman/podman.sock");
    expect(containerSocketPath("", {}, all)).toBe("/run/podman/podman.sock");
  });
});
