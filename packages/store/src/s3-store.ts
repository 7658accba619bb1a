import { createReadStream } from "node:fs";
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { LRUCache } from "lru-cache";
import { assertRequestHash, type BuildStore, REQUEST_HASH_PATTERN } from "./build-store.ts";
import { contentTypeOf } from "./content-type.ts";

export interface S3StoreOptions {
  bucket: string;
  /** S3-compatible server (MinIO, Ceph, R2, …); empty means AWS itself. */
  endpoint?: string | undefined;
  region?: string | undefined;
  /** Without keys the SDK's default chain applies (AWS_* variables, instance roles). */
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  /** Base URL the bucket is readable at; downloads redirect there instead of to presigned URLs. */
  publicUrl?: string | undefined;
  /** Local scratch folder workers assemble builds in before uploading them. */
  stagingRoot: string;
  presignSeconds?: number;
  /** How long whether a file is stored is remembered (default 30 s). */
  presenceTtlMs?: number;
  /** Keys per ListObjectsV2 page; S3's own limit is 1000. */
  listPageSize?: number;
  uploadConcurrency?: number;
  /** Attempts per request; each attempt of an upload opens the file afresh. */
  attempts?: number;
}

/** The Python server's layout: `s3://{bucket}/store/{request_hash}/{file}`. */
const KEY_PREFIX = "store/";

/** The name of a file inside a build, as an object key suffix; undefined when it could step outside. */
function keySuffix(file: string): string | undefined {
  const segments = file.split("/");
  if (segments.some((s) => s === "" || s === "." || s === ".." || /[\\\0]/.test(s))) {
    return undefined;
  }
  return segments.join("/");
}

async function filesUnder(dir: string, prefix = ""): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const name = `${prefix}${entry.name}`;
    if (entry.isDirectory()) files.push(...(await filesUnder(join(dir, entry.name), `${name}/`)));
    else if (entry.isFile()) files.push(name);
  }
  return files;
}

/** Client mistakes (bad credentials, missing bucket) fail at once; the network and 5xx get retried. */
function isRetryable(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return status === undefined || status >= 500 || status === 408 || status === 429;
}

async function withAttempts<T>(attempts: number, action: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await action();
    } catch (error) {
      if (attempt >= attempts || !isRetryable(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200 * 4 ** (attempt - 1)));
    }
  }
}

async function inParallel<T>(
  items: readonly T[],
  limit: number,
  action: (item: T) => Promise<void>,
) {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await action(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/** The bucket as the store's steps use it: its client, its name, and how often a request is tried. */
interface Bucket {
  client: S3Client;
  name: string;
  attempts: number;
  pageSize: number;
}

function s3Client(options: S3StoreOptions): S3Client {
  return new S3Client({
    region: options.region || "us-east-1",
    ...(options.endpoint ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
    ...(options.accessKeyId
      ? {
          credentials: {
            accessKeyId: options.accessKeyId,
            secretAccessKey: options.secretAccessKey ?? "",
          },
        }
      : {}),
    // Retried here instead, where a retried upload can reopen its file.
    maxAttempts: 1,
    // The SDK's default trailing checksums (aws-chunked uploads) are not
    // understood by many S3-compatible servers; plain signed requests are.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

async function isStored(bucket: Bucket, key: string): Promise<boolean> {
  return withAttempts(bucket.attempts, async () => {
    try {
      await bucket.client.send(new HeadObjectCommand({ Bucket: bucket.name, Key: key }));
      return true;
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata
        ?.httpStatusCode;
      if (status === 404) return false;
      throw error;
    }
  });
}

async function* keysUnder(bucket: Bucket, prefix: string): AsyncGenerator<string[]> {
  let token: string | undefined;
  do {
    const page = await withAttempts(bucket.attempts, () =>
      bucket.client.send(
        new ListObjectsV2Command({
          Bucket: bucket.name,
          Prefix: prefix,
          MaxKeys: bucket.pageSize,
          ContinuationToken: token,
        }),
      ),
    );
    const keys = (page.Contents ?? []).flatMap((object) => (object.Key ? [object.Key] : []));
    if (keys.length > 0) yield keys;
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

async function deleteKeys(bucket: Bucket, keys: readonly string[]) {
  for (let start = 0; start < keys.length; start += 1000) {
    const batch = keys.slice(start, start + 1000);
    const answer = await withAttempts(bucket.attempts, () =>
      bucket.client.send(
        new DeleteObjectsCommand({
          Bucket: bucket.name,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      ),
    );
    const failed = answer.Errors ?? [];
    if (failed.length > 0) {
      const first = failed[0];
      throw new Error(
        `S3 could not delete ${failed.length} object(s), first ${first?.Key}: ${first?.Code} ${first?.Message}`,
      );
    }
  }
}

async function upload(bucket: Bucket, sourceDir: string, file: string, key: string) {
  const path = join(sourceDir, file);
  const { size } = await stat(path);
  await withAttempts(bucket.attempts, () =>
    bucket.client.send(
      new PutObjectCommand({
        Bucket: bucket.name,
        Key: key,
        Body: createReadStream(path),
        ContentLength: size,
        ContentType: contentTypeOf(file),
      }),
    ),
  );
}

/** Uploads a finished build's folder, then deletes what an older copy had beyond it. */
async function saveBuild(bucket: Bucket, prefix: string, sourceDir: string, concurrency: number) {
  const files = await filesUnder(sourceDir);
  const fresh = new Set(files.map((file) => `${prefix}${file}`));
  await inParallel(files, concurrency, (file) =>
    upload(bucket, sourceDir, file, `${prefix}${file}`),
  );
  // Files of an older copy that this one does not have go only after
  // the new ones are in place, so a download never finds the build empty.
  for await (const keys of keysUnder(bucket, prefix)) {
    await deleteKeys(
      bucket,
      keys.filter((key) => !fresh.has(key)),
    );
  }
  await rm(sourceDir, { recursive: true, force: true });
}

/** Where a stored file is downloaded: under the public URL, else a presigned URL. */
async function downloadUrl(bucket: Bucket, key: string, options: S3StoreOptions) {
  const publicUrl = options.publicUrl?.replace(/\/+$/, "");
  if (publicUrl) {
    const path = key.split("/").map(encodeURIComponent).join("/");
    return `${publicUrl}/${path}`;
  }
  return getSignedUrl(bucket.client, new GetObjectCommand({ Bucket: bucket.name, Key: key }), {
    expiresIn: options.presignSeconds ?? 3600,
  });
}

/**
 * Builds in an S3 bucket, so workers on other machines can store results the
 * build tier serves: `/store/…` redirects to `{S3_PUBLIC_URL}/store/…` or,
 * without a public URL, to a presigned URL.
 */
export function createS3Store(options: S3StoreOptions): BuildStore {
  const bucket: Bucket = {
    client: s3Client(options),
    name: options.bucket,
    attempts: options.attempts ?? 3,
    pageSize: options.listPageSize ?? 1000,
  };
  // Every poll of a finished build asks whether its files are still there:
  // a HEAD per file, remembered briefly, keeps that off S3's bill and path.
  const presence = new LRUCache<string, boolean>({
    max: 10_000,
    ttl: options.presenceTtlMs ?? 30_000,
  });
  async function stored(key: string): Promise<boolean> {
    const known = presence.get(key);
    if (known !== undefined) return known;
    const found = await isStored(bucket, key);
    presence.set(key, found);
    return found;
  }

  return {
    stagingRoot: options.stagingRoot,

    async save(requestHash, sourceDir) {
      assertRequestHash(requestHash);
      const prefix = `${KEY_PREFIX}${requestHash}/`;
      await saveBuild(bucket, prefix, sourceDir, options.uploadConcurrency ?? 4);
      presence.clear();
    },

    async remove(requestHash) {
      assertRequestHash(requestHash);
      for await (const keys of keysUnder(bucket, `${KEY_PREFIX}${requestHash}/`)) {
        await deleteKeys(bucket, keys);
      }
    },

    // S3 has no cheap free-space question; failed uploads say why instead.
    async writeProblem() {
      return undefined;
    },

    async has(requestHash, files) {
      if (!REQUEST_HASH_PATTERN.test(requestHash)) return false;
      const prefix = `${KEY_PREFIX}${requestHash}/`;
      if (files.length === 0) {
        for await (const _keys of keysUnder(bucket, prefix)) return true;
        return false;
      }
      const keys = files.map((file) => keySuffix(file));
      if (keys.some((key) => key === undefined)) return false;
      const found = await Promise.all(keys.map((key) => stored(`${prefix}${key}`)));
      return found.every(Boolean);
    },

    async locate(requestHash, file) {
      if (!REQUEST_HASH_PATTERN.test(requestHash)) return undefined;
      const suffix = keySuffix(file);
      if (suffix === undefined) return undefined;
      const key = `${KEY_PREFIX}${requestHash}/${suffix}`;
      return { kind: "redirect", url: await downloadUrl(bucket, key, options) };
    },
  };
}
