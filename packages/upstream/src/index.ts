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
  type OpenwrtCatalog,
  type ProfileMatch,
  type ServerVersions,
} from "./openwrt-catalog.ts";
export {
  type ValidatedRequest,
  type ValidationSettings,
  validateBuildRequest,
} from "./request-validation.ts";
export { UpstreamUnavailableError } from "./upstream-errors.ts";
