export { type BuildStore, REQUEST_HASH_PATTERN } from "./build-store.ts";
export { createLocalStore } from "./local-store.ts";
