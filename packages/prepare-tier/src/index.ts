export { type BuildCacheProbe, createBuildCacheProbe } from "./build-cache-probe.ts";
export { createPrepareApp, type PrepareAppDeps } from "./prepare-app.ts";
