import { existsSync, readFileSync } from "node:fs";
import { parse as parseToml } from "smol-toml";
import {
  type Config,
  type ConfigKey,
  configSchema,
  envName,
  SETTING_META,
} from "./config-schema.ts";

export class ConfigError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(`Invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** asu.toml path; defaults to $ASU_CONFIG, else ./asu.toml when present. */
  tomlPath?: string;
  /** Tier defaults that differ from the schema's (e.g. the prepare tier's port). */
  defaults?: Partial<Record<ConfigKey, unknown>>;
}

function readToml(path: string): Record<string, unknown> {
  try {
    return parseToml(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError([`${path}: ${(error as Error).message}`]);
  }
}

/** Environment wins over asu.toml, which wins over the tier's and the schema's defaults. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const tomlPath = options.tomlPath ?? env.ASU_CONFIG ?? (existsSync("asu.toml") ? "asu.toml" : "");
  const fromToml = tomlPath ? readToml(tomlPath) : {};

  const raw: Record<string, unknown> = { ...options.defaults };
  for (const key of Object.keys(configSchema.shape)) {
    if (fromToml[key] !== undefined) raw[key] = fromToml[key];
    const fromEnv = env[envName(key)];
    if (fromEnv !== undefined) raw[key] = fromEnv;
  }

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const key = String(issue.path[0] ?? "");
        return `${envName(key)}=${JSON.stringify(raw[key])}: ${issue.message}`;
      }),
    );
  }
  return parsed.data;
}

/** A URL keeps all but its password; any other secret is hidden whole. */
function maskSecret(value: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return "***";
  try {
    const url = new URL(value);
    if (!url.password) return value;
    url.password = "***";
    return url.toString();
  } catch {
    return "***";
  }
}

/** The effective configuration for start-up logs, secrets masked. */
export function describeConfig(config: Config): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    shown[envName(key)] =
      SETTING_META[key]?.secret && typeof value === "string" ? maskSecret(value) : value;
  }
  return shown;
}
