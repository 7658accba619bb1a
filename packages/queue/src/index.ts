export * from "./build-answer.ts";
export * from "./build-job.ts";
export * from "./build-queue.ts";
export * from "./build-stats.ts";
export * from "./error-log.ts";
export * from "./expiry.ts";
export * from "./result-ttl.ts";
export * from "./worker-heartbeat.ts";
