export {
  type BuildStore,
  REQUEST_HASH_PATTERN,
  type StoredFileLocation,
  type StoreProblem,
  storeProblemOf,
} from "./build-store.ts";
export { createLocalStore, type LocalStore } from "./local-store.ts";
export { createS3Store, type S3StoreOptions } from "./s3-store.ts";
export { createStoreFromConfig, type StoreSettings } from "./store-from-config.ts";
