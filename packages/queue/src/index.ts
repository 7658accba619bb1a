export * from "./build-durations.ts";
export * from "./build-eta.ts";
export * from "./build-queue.ts";
export * from "./bullmq-adapter.ts";
export * from "./expiry.ts";
export * from "./job-data.ts";
export * from "./job-snapshot.ts";
export * from "./queue-depth.ts";
export * from "./refused-builds.ts";
export * from "./result-ttl.ts";
export * from "./running-builds.ts";
export * from "./settle-within.ts";

export * from "./worker-heartbeat.ts";
