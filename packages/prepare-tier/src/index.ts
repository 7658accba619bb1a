export {
  type BuildCacheProbe,
  createBuildCacheProbe,
  registerMirrorMetric,
} from "./build-cache-probe.ts";
export { createPrepareApp, type PrepareAppDeps } from "./prepare-app.ts";
