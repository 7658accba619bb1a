// The build-guard service of the compose files: guards CONTAINER_NETWORK
// against this host (nftables) and keeps it guarded. Runs as root in the
// host's network namespace with CAP_NET_ADMIN, beside the workers, which
// read the guard through it and refuse to build without it.
import { readLocalGuard, runNetworkGuard } from "@asu/build-worker";
import { ConfigError, loadConfig } from "@asu/config";
import { createLogger } from "@asu/observability";

async function start() {
  const config = loadConfig();
  // The healthcheck: healthy while the guard's table is in place.
  if (process.argv.includes("--check")) {
    const state = await readLocalGuard(config.container_network);
    process.stdout.write(`${JSON.stringify(state)}\n`);
    process.exit(state.kind === "present" ? 0 : 1);
  }
  const logger = createLogger({ service: "build-guard", level: config.log_level });
  const guard = await runNetworkGuard({ config, logger });
  const stop = (signal: string) => {
    logger.info({ signal }, "stopping: the guard stays in place");
    guard.stop();
    process.exit(0);
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

start().catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof ConfigError ? error.message : ((error as Error)?.stack ?? String(error))}\n`,
  );
  process.exit(error instanceof ConfigError ? 2 : 1);
});
