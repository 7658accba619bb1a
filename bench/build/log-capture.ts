import { Writable } from "node:stream";
import { createLogger, type Logger } from "@asu/observability";

export interface LogEntry {
  /** performance.now() of this process (pino stamps ISO time to the millisecond). */
  at: number;
  msg: string;
  [field: string]: unknown;
}

export interface LogCapture {
  logger: Logger;
  readonly entries: LogEntry[];
  clear(): void;
}

/** A worker logger whose lines are kept in memory, for timelines. */
export function captureLogs(service: string): LogCapture {
  const entries: LogEntry[] = [];
  let pending = "";
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      pending += chunk.toString("utf8");
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.trim()) continue;
        const { time, ...fields } = JSON.parse(line) as { time: string; msg: string };
        entries.push({ ...fields, at: Date.parse(time) - performance.timeOrigin });
      }
      done();
    },
  });
  return {
    logger: createLogger({ service, level: "info", destination }),
    entries,
    clear: () => {
      entries.length = 0;
    },
  };
}
