import type { IncomingMessage, ServerResponse } from "node:http";
import { Server as NetServer } from "node:net";
import type { Logger } from "@asu/observability";

/** What a stopping tier closes: a Node HTTP server, or @hono/node-server's. */
export interface ClosableServer {
  close(callback?: (error?: Error) => void): unknown;
  closeIdleConnections?(): void;
  prependListener?(
    event: "request",
    listener: (request: IncomingMessage, response: ServerResponse) => void,
  ): unknown;
}

/** A stuck connection or client must not keep a stopping tier alive. */
const EXIT_LIMIT_MS = 5000;
/**
 * How long a keep-alive connection that is idle when the tier stops may
 * still bring its next request (answered, with `Connection: close`) before
 * it is closed: closing at once resets requests already on their way.
 */
const IDLE_GRACE_MS = 1000;
const IDLE_SWEEP_MS = 250;

/**
 * Prepares a graceful stop of `server` and returns the function that starts
 * it: the server stops listening, answers everything in flight, tells every
 * client `Connection: close` from then on, closes keep-alive connections
 * still idle after a grace period, and calls `closed` once the last
 * connection has gone.
 */
export function gracefulStop(server: ClosableServer, closed: () => void): () => void {
  const inFlight = new Set<ServerResponse>();
  let stopping = false;
  server.prependListener?.("request", (_request, response) => {
    if (stopping) {
      response.setHeader("Connection", "close");
      return;
    }
    inFlight.add(response);
    response.once("close", () => inFlight.delete(response));
  });
  return () => {
    if (stopping) return;
    stopping = true;
    for (const response of inFlight) {
      if (!response.headersSent) response.setHeader("Connection", "close");
    }
    // http.Server#close also closes idle connections at once, which races
    // with requests clients are already sending on them: stop listening only.
    if (server instanceof NetServer) NetServer.prototype.close.call(server, () => closed());
    else server.close(() => closed());
    setTimeout(() => {
      server.closeIdleConnections?.();
      setInterval(() => server.closeIdleConnections?.(), IDLE_SWEEP_MS).unref();
    }, IDLE_GRACE_MS).unref();
  };
}

/**
 * SIGTERM or SIGINT stops taking connections, lets answers in flight finish
 * and keep-alive connections close after their answer, runs `afterClose`
 * (a tier's own clients), then exits; within 5 s at most.
 */
export function stopOnSignals(
  server: ClosableServer,
  logger: Logger,
  afterClose: () => Promise<unknown> = async () => {},
): void {
  const stopServer = gracefulStop(server, () => {
    void afterClose()
      .catch((error: Error) => logger.warn({ err: error.message }, "stopping failed"))
      .finally(() => process.exit(0));
  });
  const stop = (signal: string) => {
    logger.info({ signal }, "stopping");
    stopServer();
    setTimeout(() => process.exit(0), EXIT_LIMIT_MS).unref();
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}
