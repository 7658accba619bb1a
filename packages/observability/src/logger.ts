import pino from "pino";

export type Logger = pino.Logger;

/** Python's level names (the contract's LOG_LEVEL) mapped onto pino's. */
const LEVELS: Record<string, pino.Level> = {
  trace: "trace",
  debug: "debug",
  info: "info",
  warning: "warn",
  warn: "warn",
  error: "error",
  critical: "fatal",
  fatal: "fatal",
};

export function createLogger(options: {
  service: string;
  level?: string;
  destination?: pino.DestinationStream;
}): Logger {
  const level = LEVELS[(options.level ?? "info").toLowerCase()] ?? "info";
  return pino(
    {
      level,
      base: { service: options.service },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination,
  );
}
