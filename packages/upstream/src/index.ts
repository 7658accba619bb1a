export {
  type IndexSource,
  indexSourceNames,
  parseIndexSource,
  readFeedNames,
  readFeeds,
  readIndexSource,
  sourceIdentity,
} from "./index-sources.ts";
export {
  createMetadataClient,
  type GetOptions,
  type MetadataClient,
  type MetadataClientOptions,
  type MetadataClientStats,
} from "./metadata-client.ts";
export {
  type CatalogOptions,
  createOpenwrtCatalog,
  newestTargets,
  type OpenwrtCatalog,
  type ProfileMatch,
  type ServerVersions,
} from "./openwrt-catalog.ts";
export {
  createPackageIndexes,
  type IndexSearchInput,
  type PackageIndexes,
  type PackageIndexesOptions,
} from "./package-indexes.ts";
export {
  createRepositoryIndexes,
  type RepositoryIndex,
  type RepositoryIndexes,
  type RepositoryIndexOptions,
} from "./repository-indexes.ts";
export {
  type ValidatedRequest,
  type ValidationSettings,
  validateBuildRequest,
} from "./request-validation.ts";
export { UpstreamUnavailableError } from "./upstream-errors.ts";
export { type MetadataStatsSource, registerUpstreamMetrics } from "./upstream-metrics.ts";
