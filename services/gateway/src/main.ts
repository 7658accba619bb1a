import { ConfigError } from "@asu/config";
import { createLogger, stopOnSignals } from "@asu/http";
import { createGateway } from "./gateway.ts";
import { readGatewaySettings } from "./gateway-settings.ts";

function start() {
  const settings = readGatewaySettings();
  const logger = createLogger({ service: "gateway", level: settings.logLevel });
  const server = createGateway({
    prepareUrl: settings.prepareUrl,
    buildUrl: settings.buildUrl,
    timeoutMs: settings.timeoutMs,
    logger,
  });
  server.listen(settings.port, settings.host, () => {
    logger.info(
      {
        url: `http://${settings.host}:${settings.port}`,
        prepare: settings.prepareUrl,
        build: settings.buildUrl,
        timeout_ms: settings.timeoutMs,
      },
      "gateway listening",
    );
  });

  stopOnSignals(server, logger);
}

try {
  start();
} catch (error) {
  // A bad setting is the operator's to fix: say which, without a stack.
  const message = error instanceof ConfigError ? error.message : (error as Error).message;
  process.stderr.write(`${message}\n`);
  process.exit(2);
}
