import type { IncomingMessage, ServerResponse } from "node:http";
import { Server as NetServer } from "node:net";
import type { Logger } from "@asu/observability";

// biome-ignore lint/suspicious/noExplicitAny: Node's own EventEmitter listener type
type EventListener = (...args: any[]) => void;

/** What a stopping tier closes: a Node HTTP server, or @hono/node-server's. */
export interface ClosableServer {
  close(callback?: (error?: Error) => void): unknown;
  closeIdleConnections?(): void;
  prependListener?(event: string, listener: EventListener): unknown;
  off?(event: string, listener: EventListener): unknown;
}

/** After the drain, a stuck connection or client must not keep a stopping tier alive. */
const EXIT_LIMIT_MS = 5000;
/**
 * How long a keep-alive connection that is idle when the tier stops
 * listening may still bring its next request (answered, with `Connection:
 * close`) before it is closed: closing at once resets requests already on
 * their way.
 */
const IDLE_GRACE_MS = 1000;
const IDLE_SWEEP_MS = 250;
/** After the drain, how long a quiet listener waits for one more connection before it closes. */
const LAST_ACCEPT_MS = 200;
/** How long the connections queued before the backlog shrank get to be accepted. */
const QUEUE_SETTLE_MS = 500;

export interface GracefulStopOptions {
  /** How long the tier keeps accepting after the stop began (SHUTDOWN_DRAIN). */
  drainMs: number;
}

type ListeningHandle = { listen?: (backlog: number) => number };

/**
 * Closes the listener without resetting a connection. Closing resets every
 * connection the kernel has queued for accept(), and a busy tier always has
 * some: first the backlog shrinks to nothing, so that new handshakes are
 * dropped (their clients retry and find the port closed, a refusal) while
 * those queued are accepted; the listener then closes right after an accept
 * has emptied the queue, or when none came for a while. Node has no public
 * call that changes the backlog: its listening handle's own `listen` does.
 */
function closeListenerQuietly(server: ClosableServer, close: () => void): void {
  const handle = (server as { _handle?: ListeningHandle | null })._handle;
  if (typeof handle?.listen !== "function" || typeof server.prependListener !== "function") {
    close();
    return;
  }
  handle.listen(0);
  let quiet: NodeJS.Timeout | undefined;
  const closeNow = () => {
    if (quiet === undefined) return;
    clearTimeout(quiet);
    quiet = undefined;
    server.off?.("connection", closeNow);
    close();
  };
  // Those queued before the backlog shrank are accepted first.
  setTimeout(() => {
    quiet = setTimeout(closeNow, LAST_ACCEPT_MS);
    server.prependListener?.("connection", closeNow);
  }, QUEUE_SETTLE_MS).unref();
}

/**
 * Prepares a graceful stop of `server` and returns the function that starts
 * it: the server tells every client `Connection: close` from then on and
 * keeps accepting for `drainMs`, then stops listening (resetting none),
 * answers everything in flight, closes keep-alive connections still idle
 * after a grace period, and calls `closed` once the last connection has gone.
 */
export function gracefulStop(
  server: ClosableServer,
  closed: () => void,
  options: GracefulStopOptions,
): () => void {
  const inFlight = new Set<ServerResponse>();
  let stopping = false;
  server.prependListener?.("request", (_request: IncomingMessage, response: ServerResponse) => {
    if (stopping) {
      response.setHeader("Connection", "close");
      return;
    }
    inFlight.add(response);
    response.once("close", () => inFlight.delete(response));
  });
  const stopListening = () => {
    // http.Server#close also closes idle connections at once, which races
    // with requests clients are already sending on them: stop listening only.
    if (server instanceof NetServer) NetServer.prototype.close.call(server, () => closed());
    else server.close(() => closed());
    setTimeout(() => {
      server.closeIdleConnections?.();
      setInterval(() => server.closeIdleConnections?.(), IDLE_SWEEP_MS).unref();
    }, IDLE_GRACE_MS).unref();
  };
  return () => {
    if (stopping) return;
    stopping = true;
    for (const response of inFlight) {
      if (!response.headersSent) response.setHeader("Connection", "close");
    }
    setTimeout(() => closeListenerQuietly(server, stopListening), options.drainMs).unref();
  };
}

/**
 * SIGTERM or SIGINT drains and stops the server (gracefulStop), runs
 * `afterClose` (a tier's own clients), then exits; within the drain and 5 s
 * more at most.
 */
export function stopOnSignals(
  server: ClosableServer,
  logger: Logger,
  options: GracefulStopOptions & { afterClose?: () => Promise<unknown> },
): void {
  const afterClose = options.afterClose ?? (async () => {});
  const stopServer = gracefulStop(
    server,
    () => {
      void afterClose()
        .catch((error: Error) => logger.warn({ err: error.message }, "stopping failed"))
        .finally(() => process.exit(0));
    },
    options,
  );
  const stop = (signal: string) => {
    logger.info({ signal, drain_ms: options.drainMs }, "stopping");
    stopServer();
    setTimeout(() => process.exit(0), options.drainMs + EXIT_LIMIT_MS).unref();
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}
