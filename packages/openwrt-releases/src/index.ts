// What OpenWrt publishes, as data and pure functions: branches and the package changes each
// carries, version order, ImageBuilder image tags, the kmods layout, the upstream metadata
// files' shapes and board-name matching.
export * from "./branches.ts";
export * from "./imagebuilder-image.ts";
export * from "./kmods-layout.ts";
export * from "./package-changes.ts";
export * from "./profile-match.ts";
export * from "./upstream-metadata.ts";
export * from "./versions.ts";
