export * from "./build-stats.ts";
export * from "./error-log.ts";
