import { resolve } from "node:path";
import type { BuildStore } from "./build-store.ts";
import { createLocalStore } from "./local-store.ts";
import { createS3Store } from "./s3-store.ts";

/**
 * The settings that choose and reach the store (STORE_BACKEND, PUBLIC_PATH,
 * S3_*), spelled as @asu/config's `Config` spells them, which satisfies it.
 */
export interface StoreSettings {
  store_backend: "local" | "s3";
  public_path: string;
  s3_endpoint?: string | undefined;
  s3_access_key?: string | undefined;
  s3_secret_key?: string | undefined;
  s3_bucket: string;
  s3_region?: string | undefined;
  s3_public_url?: string | undefined;
}

/** The store STORE_BACKEND names: the same for the build tier and every worker. */
export function createStoreFromConfig(settings: StoreSettings): BuildStore {
  if (settings.store_backend === "local") return createLocalStore(settings.public_path);
  return createS3Store({
    bucket: settings.s3_bucket,
    endpoint: settings.s3_endpoint,
    region: settings.s3_region,
    accessKeyId: settings.s3_access_key,
    secretAccessKey: settings.s3_secret_key,
    publicUrl: settings.s3_public_url,
    stagingRoot: resolve(settings.public_path, "store"),
  });
}
