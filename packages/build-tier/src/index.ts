export { type BuildTier, type BuildTierOptions, createBuildTier } from "./build-tier.ts";
