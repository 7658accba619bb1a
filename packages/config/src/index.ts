export {
  type Config,
  type ConfigKey,
  configSchema,
  envName,
  SETTING_META,
  settingKeys,
  shownDefault,
} from "./config-schema.ts";
export {
  CONFIG_TABLE_END,
  CONFIG_TABLE_START,
  configTable,
  withConfigTable,
} from "./config-table.ts";
export { formatDuration, parseDurationSeconds } from "./duration.ts";
export { loadBranches } from "./load-branches.ts";
export { ConfigError, describeConfig, type LoadConfigOptions, loadConfig } from "./load-config.ts";
