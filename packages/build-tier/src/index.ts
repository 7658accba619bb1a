export { type BuildTier, type BuildTierOptions, createBuildTier } from "./build-tier.ts";
export { COMPLETED_HASHES_PATH } from "./completed-hashes-route.ts";
