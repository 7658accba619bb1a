import { createBuildTier } from "@asu/build-tier";
import { ConfigError, describeConfig, loadConfig } from "@asu/config";
import { stopOnSignals } from "@asu/http";
import { createLogger } from "@asu/observability";
import { serve } from "@hono/node-server";

async function start() {
  const config = loadConfig({ defaults: { port: 8000 } });
  const logger = createLogger({ service: "build", level: config.log_level });
  const tier = createBuildTier({ config, logger });

  // A little patience, so the first requests after start do not fail needlessly.
  if (!(await tier.ready(10_000))) {
    logger.warn({ redis_url: describeConfig(config).REDIS_URL }, "Redis not reachable yet");
  }
  const server = serve(
    { fetch: tier.app.fetch, port: config.port ?? 8000, hostname: config.host },
    (info) => {
      logger.info(
        { url: `http://${info.address}:${info.port}`, config: describeConfig(config) },
        "build tier listening",
      );
    },
  );
  stopOnSignals(server, logger, {
    drainMs: config.shutdown_drain * 1000,
    afterClose: () => tier.close(),
  });
}

start().catch((error) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  throw error;
});
