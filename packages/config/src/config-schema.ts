import { z } from "zod";
import { formatDuration, parseDurationSeconds } from "./duration.ts";

/*
 * One schema for every setting of every tier. Values arrive as strings from the
 * environment or typed from asu.toml, so each kind accepts both. The schema's
 * descriptions are docs/configuration.md's table (checked by a test), and
 * `tiers` says which deployables read a setting.
 */

const booleanSetting = z.preprocess((value) => {
  if (typeof value !== "string") return value;
  const text = value.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(text)) return true;
  if (["", "0", "false", "no", "off"].includes(text)) return false;
  return value;
}, z.boolean());

const integerSetting = z.preprocess(
  (value) => (typeof value === "string" && value.trim() !== "" ? Number(value) : value),
  z.number().int(),
);

const durationSetting = z.preprocess((value) => {
  if (typeof value === "number") return value;
  if (typeof value !== "string") return value;
  return parseDurationSeconds(value) ?? value;
}, z.number().int().nonnegative());

/** pydantic-settings reads lists from JSON; operators also write them comma-separated. */
const splitList = (value: unknown) => {
  if (typeof value !== "string") return value;
  const text = value.trim();
  if (text === "") return [];
  if (text.startsWith("[")) {
    try {
      return JSON.parse(text);
    } catch {
      return value;
    }
  }
  return text
    .split(/[\s,]+/)
    .map((item) => item.trim())
    .filter(Boolean);
};
const listSetting = z.preprocess(splitList, z.array(z.string()));
const portListSetting = z.preprocess(
  splitList,
  z.array(integerSetting.pipe(z.number().min(1).max(65_535))),
);

/** `3g`, `512m`, `1.5G` or bytes, as `podman run --memory` reads it; the value is bytes. */
const byteSizeSetting = z.preprocess((value) => {
  if (typeof value !== "string") return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$/i.exec(value);
  if (!match) return value;
  const power = "bkmgt".indexOf((match[2] || "b").toLowerCase());
  return Math.round(Number(match[1]) * 1024 ** power);
}, z.number().int().positive());

const optionalText = z.preprocess(
  (value) => (typeof value === "string" && value.trim() === "" ? undefined : value),
  z.string().optional(),
);

type Tier = "prepare" | "build" | "worker";

interface SettingMeta {
  tiers: readonly Tier[];
  secret?: boolean;
  /** How the default reads in the docs when it is not a plain value. */
  shownDefault?: string;
}

export const SETTING_META: Record<string, SettingMeta> = {};

function setting<T extends z.ZodType>(
  schema: T,
  description: string,
  meta: SettingMeta,
  key: string,
): T {
  SETTING_META[key] = meta;
  return schema.describe(description) as T;
}

const ALL: readonly Tier[] = ["prepare", "build", "worker"];

export const configSchema = z.object({
  port: setting(
    integerSetting.pipe(z.number().min(0).max(65_535)).optional(),
    "HTTP port of the tier",
    { tiers: ["prepare", "build"], shownDefault: "8001 (prepare), 8000 (build)" },
    "port",
  ),
  shutdown_drain: setting(
    durationSetting.pipe(z.number().max(60)).default(3),
    "On SIGTERM an HTTP tier (and the all-in-one server) keeps accepting connections this long (at most 1m), answering each request with `Connection: close`, then stops listening, finishes what is in flight and exits: clients that open a connection per request are not reset, and a load balancer has time to notice",
    { tiers: ["prepare", "build"], shownDefault: "3s" },
    "shutdown_drain",
  ),
  host: setting(
    z.string().default("0.0.0.0"),
    "Address the HTTP tiers (and a worker's metrics) listen on",
    { tiers: ["prepare", "build", "worker"] },
    "host",
  ),
  redis_url: setting(
    z.string().default("redis://localhost:6379"),
    "Redis holding the queue and results",
    { tiers: ["build", "worker"], secret: true },
    "redis_url",
  ),
  upstream_url: setting(
    z
      .string()
      .default("https://downloads.openwrt.org")
      .transform((url) => url.replace(/\/+$/, "")),
    "Where OpenWrt metadata lives",
    { tiers: ALL },
    "upstream_url",
  ),
  upstream_timeout: setting(
    durationSetting.default(10),
    "Time limit for one upstream metadata request",
    { tiers: ALL, shownDefault: "10s" },
    "upstream_timeout",
  ),
  build_api_url: setting(
    optionalText,
    "Build tier the prepare tier asks whether a prepared request is already built (cache_available)",
    { tiers: ["prepare"] },
    "build_api_url",
  ),
  prepare_api_url: setting(
    optionalText,
    "Prepare tier the build page (`/build`) sends its package preview to; empty: the build tier's own origin",
    { tiers: ["build"], shownDefault: "same origin" },
    "prepare_api_url",
  ),
  public_path: setting(
    z.string().default("./public"),
    "Store lives in {PUBLIC_PATH}/store/{request_hash}/",
    { tiers: ["build", "worker"] },
    "public_path",
  ),
  store_backend: setting(
    z.enum(["local", "s3"]).default("local"),
    "Where results live: `local` ({PUBLIC_PATH}/store) or `s3` (a bucket, for workers on other machines; PUBLIC_PATH is then only scratch space)",
    { tiers: ["build", "worker"] },
    "store_backend",
  ),
  s3_endpoint: setting(
    optionalText,
    "S3-compatible server (MinIO, Ceph, R2, …); empty: AWS",
    { tiers: ["build", "worker"], shownDefault: "empty" },
    "s3_endpoint",
  ),
  s3_access_key: setting(
    optionalText,
    "S3 access key; empty: the AWS SDK's default credentials (AWS_* variables, instance role)",
    { tiers: ["build", "worker"], secret: true, shownDefault: "empty" },
    "s3_access_key",
  ),
  s3_secret_key: setting(
    optionalText,
    "S3 secret key",
    { tiers: ["build", "worker"], secret: true, shownDefault: "empty" },
    "s3_secret_key",
  ),
  s3_bucket: setting(
    z.string().min(1).default("asu-store"),
    "Bucket holding store/{request_hash}/",
    { tiers: ["build", "worker"] },
    "s3_bucket",
  ),
  s3_region: setting(
    optionalText,
    "S3 region",
    { tiers: ["build", "worker"], shownDefault: "us-east-1" },
    "s3_region",
  ),
  s3_public_url: setting(
    optionalText,
    "Public base URL of the bucket: `/store/…` redirects to `{S3_PUBLIC_URL}/store/…`; empty: to a presigned URL valid 1 h",
    { tiers: ["build"], shownDefault: "empty" },
    "s3_public_url",
  ),
  container_socket_path: setting(
    optionalText,
    "Podman API socket the workers use",
    { tiers: ["worker"], shownDefault: "(podman socket)" },
    "container_socket_path",
  ),
  base_container: setting(
    z.string().default("ghcr.io/openwrt/imagebuilder"),
    "ImageBuilder container images",
    { tiers: ["worker"] },
    "base_container",
  ),
  allow_defaults: setting(
    booleanSetting.default(false),
    "Accept `defaults` (first-boot script)",
    { tiers: ALL },
    "allow_defaults",
  ),
  repository_allow_list: setting(
    listSetting.default([]),
    "URL prefixes allowed in `repositories` (JSON list or comma-separated)",
    { tiers: ALL, shownDefault: "empty" },
    "repository_allow_list",
  ),
  max_custom_rootfs_size_mb: setting(
    integerSetting.pipe(z.number().min(1)).default(1024),
    "Upper bound for rootfs_size_mb",
    { tiers: ALL },
    "max_custom_rootfs_size_mb",
  ),
  max_defaults_length: setting(
    integerSetting.pipe(z.number().min(0)).default(20480),
    "Upper bound for `defaults` length",
    { tiers: ALL },
    "max_defaults_length",
  ),
  server_contact: setting(
    z.string().default(""),
    "Contact shown to clients in overview.json (`server.contact`)",
    { tiers: ["build"], shownDefault: "empty" },
    "server_contact",
  ),
  max_pending_jobs: setting(
    integerSetting.pipe(z.number().min(0)).default(200),
    "Most builds waiting; a new one beyond answers 529",
    { tiers: ["build"] },
    "max_pending_jobs",
  ),
  max_pending_per_client: setting(
    integerSetting.pipe(z.number().min(1)).default(20),
    "Waiting builds one client may have; its further new builds answer 429",
    { tiers: ["build"] },
    "max_pending_per_client",
  ),
  trusted_proxies: setting(
    listSetting.default([]),
    "Proxies (IPs or CIDRs) whose `X-Forwarded-For` names the client (JSON list or comma-separated)",
    { tiers: ["build"], shownDefault: "empty" },
    "trusted_proxies",
  ),
  versions_refresh: setting(
    durationSetting.pipe(z.number().min(1)).default(300),
    "How often the build tier re-reads upstream `.versions.json` to notice a new release (and prebuild its popular requests)",
    { tiers: ["build"], shownDefault: "5m" },
    "versions_refresh",
  ),
  release_prebuilds: setting(
    integerSetting.pipe(z.number().min(0)).default(50),
    "Popular release requests remembered per branch (30 days), and built for a newly announced release before routers ask, at the lowest priority; 0: none",
    { tiers: ["build"] },
    "release_prebuilds",
  ),
  job_timeout: setting(
    durationSetting.default(600),
    "One build's limit",
    { tiers: ["build", "worker"], shownDefault: "10m" },
    "job_timeout",
  ),
  build_ttl: setting(
    durationSetting.default(7 * 86_400),
    "How long results with packages_versions live",
    { tiers: ["build", "worker"], shownDefault: "7d" },
    "build_ttl",
  ),
  build_ttl_unversioned: setting(
    durationSetting.default(86_400),
    "How long results without packages_versions live",
    { tiers: ["build", "worker"], shownDefault: "24h" },
    "build_ttl_unversioned",
  ),
  build_defaults_ttl: setting(
    durationSetting.default(1800),
    "How long results with defaults live",
    { tiers: ["build", "worker"], shownDefault: "30m" },
    "build_defaults_ttl",
  ),
  build_failure_ttl: setting(
    durationSetting.default(3600),
    "How long failures live",
    { tiers: ["build", "worker"], shownDefault: "1h" },
    "build_failure_ttl",
  ),
  worker_concurrency: setting(
    integerSetting.pipe(z.number().min(1)).default(1),
    "Builds one worker runs at the same time",
    { tiers: ["worker"] },
    "worker_concurrency",
  ),
  warm_containers: setting(
    booleanSetting.default(true),
    "Keep a started, never-used build container ready for the next build of an image built again within 5 minutes, at most one per build slot: a build then does not wait for its container. Each idle one holds a copy of its ImageBuilder in memory (its /builder) until taken, or for 5 minutes",
    { tiers: ["worker"] },
    "warm_containers",
  ),
  infra_retries: setting(
    integerSetting.pipe(z.number().min(0).max(10)).default(2),
    "How often a build that failed for a fault of ours (registry, Podman, disk, downloads, time limit) is tried again",
    { tiers: ["build"] },
    "infra_retries",
  ),
  infra_retry_delay: setting(
    durationSetting.default(30),
    "Wait before the first retry of such a build; it doubles with every further one",
    { tiers: ["build"], shownDefault: "30s" },
    "infra_retry_delay",
  ),
  image_pull: setting(
    z.enum(["interval", "always", "missing", "never"]).default("interval"),
    "When a worker asks the registry for the ImageBuilder image: `interval` (at most once per image per `IMAGE_PULL_INTERVAL` across all workers, and when a snapshot's upstream version_code changed), `always` (every build), `missing`, `never`; `interval` and `always` fall back to a local copy when the registry cannot be reached",
    { tiers: ["worker"] },
    "image_pull",
  ),
  image_pull_interval: setting(
    durationSetting.pipe(z.number().min(1)).default(600),
    "With `IMAGE_PULL=interval`: the least time between two registry checks of one image",
    { tiers: ["worker"], shownDefault: "10m" },
    "image_pull_interval",
  ),
  container_network: setting(
    z.string().min(1).default("asu-build"),
    "Podman network of the build containers (`none` cuts them off)",
    { tiers: ["worker"] },
    "container_network",
  ),
  allow_unguarded_build_network: setting(
    booleanSetting.default(false),
    "Start a worker even though its build network is not guarded against the host (`pnpm guard:build-network`, the compose files' build-guard service): code running in a build can then connect to every port the host listens on. Without it such a worker refuses to start, naming the fix",
    { tiers: ["worker"] },
    "allow_unguarded_build_network",
  ),
  guard_image: setting(
    optionalText,
    "The build-guard service (`node src/guard.ts`) runs nft on the Podman host in short-lived containers of this image (one with nft: the worker image), root with only CAP_NET_ADMIN in the host's network namespace; empty: nft in its own process (root on the host). The compose files set it",
    { tiers: ["worker"], shownDefault: "empty" },
    "guard_image",
  ),
  build_host_ports: setting(
    portListSetting.default([]),
    "TCP ports of the Podman host that builds may still reach once `pnpm start` guards the build network against the host (a package cache or mirror on the host itself; JSON list or comma-separated). The ports of `UPSTREAM_URL` and `CACHE_URL` are added when they name the host",
    { tiers: ["worker"], shownDefault: "empty" },
    "build_host_ports",
  ),
  build_memory: setting(
    byteSizeSetting.pipe(z.number().min(16 * 1024 * 1024)).default(4 * 1024 ** 3),
    "Memory of one build container (`4g`, `512m`), no swap beyond it; the files in its /builder and /tmp count against it",
    { tiers: ["worker"], shownDefault: "4g" },
    "build_memory",
  ),
  build_cpus: setting(
    z
      .preprocess(
        (value) => (typeof value === "string" && value.trim() !== "" ? Number(value) : value),
        z.number().positive(),
      )
      .default(2),
    "CPUs one build container may use (fractions allowed)",
    { tiers: ["worker"] },
    "build_cpus",
  ),
  build_disk_mb: setting(
    integerSetting.pipe(z.number().min(16)).default(3072),
    "Size of a build container's /builder (a tmpfs holding a copy of the ImageBuilder and everything the build writes); /tmp and /var/tmp get a quarter of it each. The root filesystem is read-only",
    { tiers: ["worker"] },
    "build_disk_mb",
  ),
  build_output_max_mb: setting(
    integerSetting.pipe(z.number().min(1)).default(512),
    "Largest build output (images and files in BIN_DIR) copied into the store; a larger one fails the build",
    { tiers: ["worker"] },
    "build_output_max_mb",
  ),
  build_pids_limit: setting(
    integerSetting.pipe(z.number().min(16)).default(512),
    "Processes and threads one build container may run at once",
    { tiers: ["worker"] },
    "build_pids_limit",
  ),
  build_userns: setting(
    optionalText,
    "User namespace of build containers (`podman run --userns`): `auto` gives each its own unprivileged ids (rootful Podman, needs a `containers` range in /etc/subuid and /etc/subgid); empty: Podman's default (rootless Podman already runs them in the user's namespace)",
    { tiers: ["worker"], shownDefault: "empty" },
    "build_userns",
  ),
  worker_shutdown_grace: setting(
    durationSetting.default(60),
    "How long a stopping worker lets running builds finish before it hands them back to the queue",
    { tiers: ["worker"], shownDefault: "1m" },
    "worker_shutdown_grace",
  ),
  build_key: setting(
    optionalText,
    "usign secret key (a path, or the key itself) to sign sysupgrade images with; `{path}.ucert` is embedded when present",
    { tiers: ["worker"], secret: true, shownDefault: "empty" },
    "build_key",
  ),
  cache_url: setting(
    optionalText,
    "Caching proxy: rewrite `https://` in the ImageBuilder's repository file to `{CACHE_URL}/`",
    { tiers: ["worker"], shownDefault: "empty" },
    "cache_url",
  ),
  server_stats: setting(
    booleanSetting.default(false),
    "Record statistics",
    { tiers: ["build", "worker"] },
    "server_stats",
  ),
  package_check: setting(
    booleanSetting.default(true),
    "Check requested packages against the package indexes: the build tier fails a build that names a package no index has before queueing it, prepare reports `problems`",
    { tiers: ["build", "prepare"] },
    "package_check",
  ),
  metrics_port: setting(
    integerSetting.pipe(z.number().min(0).max(65_535)).default(9101),
    "Port of a worker's Prometheus `/metrics` and healthcheck `/health` (on HOST); 0 turns both off. The HTTP tiers answer both on their own port",
    { tiers: ["worker"] },
    "metrics_port",
  ),
  branches_file: setting(
    optionalText,
    "JSON or TOML file replacing the branch table",
    { tiers: ALL, shownDefault: "empty" },
    "branches_file",
  ),
  log_level: setting(
    z
      .string()
      .default("INFO")
      .transform((level) => level.toLowerCase())
      .pipe(z.enum(["trace", "debug", "info", "warning", "warn", "error", "critical", "fatal"])),
    "Log level (DEBUG, INFO, WARNING, ERROR)",
    { tiers: ALL, shownDefault: "INFO" },
    "log_level",
  ),
});

export type Config = z.output<typeof configSchema>;
export type ConfigKey = keyof Config;

export function settingKeys(): ConfigKey[] {
  return Object.keys(configSchema.shape) as ConfigKey[];
}

/** The environment variable of a setting: the Python server's upper-case names. */
export function envName(key: string): string {
  return key.toUpperCase();
}

/** Defaults as they read in docs and start-up logs. */
export function shownDefault(key: ConfigKey): string {
  const meta = SETTING_META[key];
  if (meta?.shownDefault) return meta.shownDefault;
  const field = configSchema.shape[key];
  const parsed = field.safeParse(undefined);
  if (!parsed.success || parsed.data === undefined) return "empty";
  const value = parsed.data as unknown;
  if (typeof value === "string") return value;
  return String(value);
}

export { formatDuration };
