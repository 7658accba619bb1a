// The website of the build tier: `/`, `/build`, `/stats`, their static files (static/) and the
// two JSON endpoints the build page chooses devices with. The build tier mounts them.
export {
  createLiveStatus,
  type LiveStatus,
  type LiveStatusDeps,
  type NewBuildEta,
} from "./live-status.ts";
export { type PagesDeps, registerPages } from "./register-pages.ts";
