import { Writable } from "node:stream";
import { createLogger, type Logger } from "@asu/observability";

/** A logger that writes nowhere, so a test's output is the test runner's. */
export function silentLogger(service = "test"): Logger {
  return createLogger({
    service,
    destination: new Writable({ write: (_chunk, _encoding, done) => done() }),
  });
}
