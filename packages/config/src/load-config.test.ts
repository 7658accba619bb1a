import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, describeConfig, loadConfig } from "./load-config.ts";

const noToml = { tomlPath: "" };

describe("loadConfig", () => {
  it("gives the contract's defaults with an empty environment", () => {
    const config = loadConfig({ env: {}, ...noToml });
    expect(config).toMatchObject({
      redis_url: "redis://localhost:6379",
      upstream_url: "https://downloads.openwrt.org",
      public_path: "./public",
      base_container: "ghcr.io/openwrt/imagebuilder",
      allow_defaults: false,
      repository_allow_list: [],
      max_custom_rootfs_size_mb: 1024,
      max_defaults_length: 20480,
      max_pending_jobs: 200,
      job_timeout: 600,
      build_ttl: 604_800,
      build_ttl_unversioned: 86_400,
      build_defaults_ttl: 1800,
      build_failure_ttl: 3600,
      server_stats: false,
      log_level: "info",
    });
    expect(config.cache_url).toBeUndefined();
    expect(config.port).toBeUndefined();
  });

  it("reads the Python server's variable names and value forms", () => {
    const config = loadConfig({
      env: {
        ALLOW_DEFAULTS: "1",
        REPOSITORY_ALLOW_LIST: '["https://a.example/x", "https://b.example/"]',
        MAX_CUSTOM_ROOTFS_SIZE_MB: "512",
        JOB_TIMEOUT: "15m",
        BUILD_TTL: "3600",
        UPSTREAM_URL: "http://127.0.0.1:9/",
        SERVER_STATS: "true",
        LOG_LEVEL: "DEBUG",
        PORT: "9000",
      },
      ...noToml,
    });
    expect(config.allow_defaults).toBe(true);
    expect(config.repository_allow_list).toEqual(["https://a.example/x", "https://b.example/"]);
    expect(config.max_custom_rootfs_size_mb).toBe(512);
    expect(config.job_timeout).toBe(900);
    expect(config.build_ttl).toBe(3600);
    expect(config.upstream_url).toBe("http://127.0.0.1:9");
    expect(config.server_stats).toBe(true);
    expect(config.log_level).toBe("debug");
    expect(config.port).toBe(9000);
  });

  it("accepts a comma-separated allow list", () => {
    const config = loadConfig({
      env: { REPOSITORY_ALLOW_LIST: "https://a.example/x, https://b.example/" },
      ...noToml,
    });
    expect(config.repository_allow_list).toEqual(["https://a.example/x", "https://b.example/"]);
  });

  it("takes asu.toml keys in lower case, the environment winning", () => {
    const dir = mkdtempSync(join(tmpdir(), "asu-config-"));
    const path = join(dir, "asu.toml");
    writeFileSync(
      path,
      'allow_defaults = true\nmax_pending_jobs = 5\njob_timeout = "1h"\nrepository_allow_list = ["https://x.example/"]\n',
    );
    const config = loadConfig({ env: { MAX_PENDING_JOBS: "7" }, tomlPath: path });
    expect(config.allow_defaults).toBe(true);
    expect(config.max_pending_jobs).toBe(7);
    expect(config.job_timeout).toBe(3600);
    expect(config.repository_allow_list).toEqual(["https://x.example/"]);
  });

  it("lets a tier set its own defaults below the environment", () => {
    expect(loadConfig({ env: {}, defaults: { port: 8001 }, ...noToml }).port).toBe(8001);
    expect(loadConfig({ env: { PORT: "1234" }, defaults: { port: 8001 }, ...noToml }).port).toBe(
      1234,
    );
  });

  it("names every bad variable", () => {
    try {
      loadConfig({
        env: { JOB_TIMEOUT: "soon", MAX_PENDING_JOBS: "many", ALLOW_DEFAULTS: "perhaps" },
        ...noToml,
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      expect(message).toContain('JOB_TIMEOUT="soon"');
      expect(message).toContain('MAX_PENDING_JOBS="many"');
      expect(message).toContain('ALLOW_DEFAULTS="perhaps"');
    }
  });

  it("reports a broken asu.toml by path", () => {
    const dir = mkdtempSync(join(tmpdir(), "asu-config-"));
    const path = join(dir, "asu.toml");
    writeFileSync(path, "allow_defaults = = true\n");
    expect(() => loadConfig({ env: {}, tomlPath: path })).toThrow(path);
  });
});

describe("describeConfig", () => {
  it("masks the Redis password and uses variable names", () => {
    const config = loadConfig({ env: { REDIS_URL: "redis://:hunter2@redis:6379/0" }, ...noToml });
    const shown = describeConfig(config);
    expect(shown.REDIS_URL).toBe("redis://:***@redis:6379/0");
    expect(JSON.stringify(shown)).not.toContain("hunter2");
    expect(shown.MAX_PENDING_JOBS).toBe(200);
  });

  it("hides a secret that is not a URL entirely", () => {
    const key = "RWRCSwAAAAB12345678901234567890123456789012345678901234567890";
    const shown = describeConfig(loadConfig({ env: { BUILD_KEY: key }, tomlPath: "" }));
    expect(shown.BUILD_KEY).toBe("***");
    expect(JSON.stringify(shown)).not.toContain(key);
  });
});

describe("BUILD_HOST_PORTS", () => {
  it("reads ports comma-separated or as a JSON list, and refuses what is no port", () => {
    expect(loadConfig({ env: {}, ...noToml }).build_host_ports).toEqual([]);
    expect(
      loadConfig({ env: { BUILD_HOST_PORTS: "3142, 8080" }, ...noToml }).build_host_ports,
    ).toEqual([3142, 8080]);
    expect(loadConfig({ env: { BUILD_HOST_PORTS: "[3142]" }, ...noToml }).build_host_ports).toEqual(
      [3142],
    );
    expect(() => loadConfig({ env: { BUILD_HOST_PORTS: "70000" }, ...noToml })).toThrow(
      ConfigError,
    );
    expect(() => loadConfig({ env: { BUILD_HOST_PORTS: "cache" }, ...noToml })).toThrow(
      ConfigError,
    );
  });
});
