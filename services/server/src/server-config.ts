import { type Config, loadConfig } from "@asu/config";
import { type ManagedProgram, PODMAN_PROGRAM, REDIS_PROGRAM } from "./program-check.ts";

/** Stands for "REDIS_URL not set" in the loaded configuration, which otherwise fills in a default. */
const UNSET = "";

export interface ServerConfig {
  config: Config;
  /** No REDIS_URL: the server runs its own redis-server. */
  privateRedis: boolean;
  /** No CONTAINER_SOCKET_PATH: the server runs its own `podman system service`. */
  privatePodman: boolean;
}

/** The configuration of the one-process server: both tiers' settings, port 8000 by default. */
export function loadServerConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const config = loadConfig({ env, defaults: { port: 8000, redis_url: UNSET } });
  return {
    config,
    privateRedis: config.redis_url.trim() === UNSET,
    privatePodman: config.container_socket_path === undefined,
  };
}

/** The programs the server has to start itself with this configuration. */
export function neededPrograms(config: ServerConfig): ManagedProgram[] {
  return [
    ...(config.privateRedis ? [REDIS_PROGRAM] : []),
    ...(config.privatePodman ? [PODMAN_PROGRAM] : []),
  ];
}
