import { ConfigError, describeConfig, loadBranches, loadConfig } from "@asu/config";
import { stopOnSignals } from "@asu/http";
import { createLogger, metricsRegistry } from "@asu/observability";
import { createBuildCacheProbe, createPrepareApp } from "@asu/prepare-tier";
import {
  createMetadataClient,
  createOpenwrtCatalog,
  createPackageIndexes,
  registerUpstreamMetrics,
} from "@asu/upstream";
import { serve } from "@hono/node-server";

function start() {
  const config = loadConfig({ defaults: { port: 8001 } });
  const logger = createLogger({ service: "prepare", level: config.log_level });
  const client = createMetadataClient({
    upstreamUrl: config.upstream_url,
    timeoutMs: config.upstream_timeout * 1000,
    logger,
  });
  const branches = loadBranches(config.branches_file);
  const catalog = createOpenwrtCatalog({ client, branches });
  const isBuilt = createBuildCacheProbe({ buildApiUrl: config.build_api_url });
  const app = createPrepareApp({
    catalog,
    ...(config.package_check
      ? // A search is reused for a second: a flood of new bodies then reads
        // the indexes about once a second, not a dozen files per prepare.
        { indexes: createPackageIndexes({ client, branches, reuseForMs: 1000 }) }
      : {}),
    settings: {
      allow_defaults: config.allow_defaults,
      repository_allow_list: config.repository_allow_list,
      max_custom_rootfs_size_mb: config.max_custom_rootfs_size_mb,
      max_defaults_length: config.max_defaults_length,
    },
    isBuilt,
    logger,
  });

  registerUpstreamMetrics(metricsRegistry(app), client);

  const server = serve(
    { fetch: app.fetch, port: config.port ?? 8001, hostname: config.host },
    (info) => {
      logger.info(
        { url: `http://${info.address}:${info.port}`, config: describeConfig(config) },
        "prepare tier listening",
      );
    },
  );

  stopOnSignals(server, logger, {
    drainMs: config.shutdown_drain * 1000,
    afterClose: async () => isBuilt.close?.(),
  });
}

try {
  start();
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
