// The build-guard service of the compose files: guards CONTAINER_NETWORK
// against the Podman host (nftables) and keeps it guarded, beside the
// workers, which refuse to build without it. With GUARD_IMAGE it runs nft
// in short-lived containers of that image on the host (root, CAP_NET_ADMIN
// alone, the host's network namespace); without, nft here (root on the host).
import { guardPresent, runNetworkGuard } from "@asu/build-worker";
import { ConfigError, loadConfig } from "@asu/config";
import { createLogger } from "@asu/observability";

async function start() {
  const config = loadConfig();
  // The healthcheck: healthy while the guard's table is in place.
  if (process.argv.includes("--check")) process.exit((await guardPresent(config)) ? 0 : 1);
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
