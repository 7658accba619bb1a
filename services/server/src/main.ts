import { ConfigError, describeConfig } from "@asu/config";
import { MissingProgramError, requirePrograms } from "./program-check.ts";
import type { RunningServer } from "./server.ts";
import { loadServerConfig, neededPrograms } from "./server-config.ts";

/** Exit codes: 2 bad configuration (as the tiers), 3 a needed program is missing, 1 anything else. */
const EXIT_CONFIG = 2;
const EXIT_MISSING_PROGRAM = 3;

function fail(message: string, code: number): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

/** The one line a person reads among the JSON logs. */
function readyLine(server: RunningServer): string {
  const redis = server.redis
    ? `private redis-server in ${server.redis.location}`
    : `Redis at ${describeConfig(server.config).REDIS_URL}`;
  const podman = server.podman
    ? `private podman service at ${server.podman.location}`
    : `Podman at ${server.config.container_socket_path}`;
  return `ASU server ready at ${server.url} (${redis}; ${podman}; 1 worker). Ctrl-C stops it.\n`;
}

async function main() {
  const loaded = loadServerConfig();
  // Before loading the rest: a missing program is reported at once.
  requirePrograms(neededPrograms(loaded), process.env.PATH);
  const { startServer } = await import("./server.ts");
  const aborted = new AbortController();
  let server: RunningServer | undefined;
  let signals = 0;
  let exitCode = 0;

  const stop = (reason: string, code: number) => {
    exitCode = Math.max(exitCode, code);
    if (!server) {
      aborted.abort(new Error(`stopped by ${reason} while starting`));
      return;
    }
    const running = server;
    running.logger.info({ reason }, "stopping");
    void running.stop().finally(() => {
      running.logger.info("stopped");
      process.exit(exitCode);
    });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals === 1) return stop(signal, 0);
    // A second Ctrl-C: do not wait for running builds to finish.
    server?.logger.warn({ signal }, "stopping now: running builds go back to the queue");
    server?.cancelBuilds();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  try {
    server = await startServer({ ...loaded, signal: aborted.signal });
  } catch (error) {
    if (aborted.signal.aborted) process.exit(exitCode);
    throw error;
  }
  if (aborted.signal.aborted) return stop("signal", exitCode);

  server.logger.info({ config: describeConfig(server.config) }, "configuration");
  server.logger.info({ url: server.url }, "ready");
  process.stderr.write(readyLine(server));
  void server.failure.then((error) => {
    server?.logger.error({ err: error.message }, "a private service failed: stopping");
    stop("failure", 1);
  });
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) fail(error.message, EXIT_CONFIG);
  if (error instanceof MissingProgramError) fail(error.message, EXIT_MISSING_PROGRAM);
  fail(`ASU server did not start: ${error instanceof Error ? error.message : String(error)}`, 1);
});
