import { startWorker, UnguardedNetworkError } from "@asu/build-worker";
import { ConfigError, describeConfig, loadConfig } from "@asu/config";
import { createLogger } from "@asu/observability";

async function start() {
  const config = loadConfig();
  const logger = createLogger({ service: "worker", level: config.log_level });
  logger.info({ config: describeConfig(config) }, "worker configuration");

  // A stable WORKER_ID (e.g. the compose replica's name) lets a restarted
  // worker remove the containers its killed predecessor left behind.
  const running = await startWorker({
    config,
    logger,
    workerId: process.env.WORKER_ID || undefined,
  });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      // A second signal: hand the running builds back now instead of waiting.
      logger.warn({ signal }, "stopping now");
      running.worker.cancelAllJobs("worker stopping");
      return;
    }
    stopping = true;
    logger.info({ signal }, "stopping");
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "worker did not stop cleanly");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

start().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  // Already logged, as one line that names the fix.
  if (error instanceof UnguardedNetworkError) process.exit(2);
  process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
