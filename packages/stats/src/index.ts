export * from "./build-stats.ts";
export * from "./error-log.ts";
export * from "./popular-requests.ts";
