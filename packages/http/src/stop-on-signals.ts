import type { Logger } from "./logger.ts";

/** What a stopping tier closes: a Node HTTP server, or @hono/node-server's. */
export interface ClosableServer {
  close(callback?: (error?: Error) => void): unknown;
  closeIdleConnections?(): void;
}

/** A stuck connection or client must not keep a stopping tier alive. */
const EXIT_LIMIT_MS = 5000;

/**
 * SIGTERM or SIGINT stops taking connections, lets answers in flight finish,
 * runs `afterClose` (a tier's own clients), then exits; within 5 s at most.
 */
export function stopOnSignals(
  server: ClosableServer,
  logger: Logger,
  afterClose: () => Promise<unknown> = async () => {},
): void {
  const stop = (signal: string) => {
    logger.info({ signal }, "stopping");
    server.close(() => {
      void afterClose()
        .catch((error: Error) => logger.warn({ err: error.message }, "stopping failed"))
        .finally(() => process.exit(0));
    });
    // Idle keep-alive connections would hold close() open; busy ones may finish.
    server.closeIdleConnections?.();
    setTimeout(() => process.exit(0), EXIT_LIMIT_MS).unref();
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}
