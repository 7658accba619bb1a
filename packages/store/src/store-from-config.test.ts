import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { createStoreFromConfig, type StoreSettings } from "./store-from-config.ts";

const HASH = "c".repeat(64);
const settings: StoreSettings = {
  store_backend: "local",
  public_path: "/srv/asu",
  s3_bucket: "asu-store",
};

describe("createStoreFromConfig", () => {
  it("keeps results in {PUBLIC_PATH}/store by default", async () => {
    const store = createStoreFromConfig(settings);
    expect(store.stagingRoot).toBe("/srv/asu/store");
    expect(await store.locate(HASH, "fw.bin")).toMatchObject({
      kind: "local",
      path: `/srv/asu/store/${HASH}/fw.bin`,
    });
  });

  it("uses the bucket for STORE_BACKEND=s3, with PUBLIC_PATH as scratch space", async () => {
    const store = createStoreFromConfig({
      ...settings,
      public_path: "relative/public",
      store_backend: "s3",
      s3_endpoint: "http://127.0.0.1:9",
      s3_bucket: "firmware",
      s3_public_url: "https://cdn.example.org/",
    });
    expect(store.stagingRoot).toBe(resolve("relative/public", "store"));
    expect(await store.locate(HASH, "fw.bin")).toEqual({
      kind: "redirect",
      url: `https://cdn.example.org/store/${HASH}/fw.bin`,
    });
  });

  it("presigns for the configured endpoint, bucket, region and key when there is no public URL", async () => {
    const store = createStoreFromConfig({
      ...settings,
      store_backend: "s3",
      s3_endpoint: "http://s3.internal:9000",
      s3_bucket: "firmware",
      s3_region: "eu-central-1",
      s3_access_key: "AKIDEXAMPLE",
      s3_secret_key: "secret",
    });
    const located = await store.locate(HASH, "fw.bin");
    if (located?.kind !== "redirect") throw new Error("not a redirect");
    const url = new URL(located.url);
    expect(`${url.origin}${url.pathname}`).toBe(
      `http://s3.internal:9000/firmware/store/${HASH}/fw.bin`,
    );
    expect(url.searchParams.get("X-Amz-Credential")).toMatch(
      /^AKIDEXAMPLE\/\d{8}\/eu-central-1\/s3\/aws4_request$/,
    );
  });
});
