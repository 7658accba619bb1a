import { existsSync } from "node:fs";

const ROOTFUL_SOCKET = "/run/podman/podman.sock";

/**
 * CONTAINER_SOCKET_PATH, else the user's rootless Podman socket when it
 * exists, else the system one.
 */
export function containerSocketPath(
  configured: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  exists: (path: string) => boolean = existsSync,
): string {
  if (configured) return configured;
  const runtimeDir = env.XDG_RUNTIME_DIR;
  if (runtimeDir) {
    const rootless = `${runtimeDir.replace(/\/+$/, "")}/podman/podman.sock`;
    if (exists(rootless)) return rootless;
  }
  return ROOTFUL_SOCKET;
}
