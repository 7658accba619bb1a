import { ConfigError, parseDurationSeconds } from "@asu/config";

export interface GatewaySettings {
  port: number;
  host: string;
  prepareUrl: string;
  buildUrl: string;
  timeoutMs: number;
  logLevel: string;
}

/**
 * The gateway's own settings, from the environment: `PORT` (8000), `HOST`,
 * `GATEWAY_PREPARE_URL` and `GATEWAY_BUILD_URL` (the tiers' origins; in
 * compose the service names), `GATEWAY_TIMEOUT` (how long a tier may take
 * to begin an answer, default 60s) and `LOG_LEVEL`.
 */
export function readGatewaySettings(env: NodeJS.ProcessEnv = process.env): GatewaySettings {
  const problems: string[] = [];
  const text = (name: string, fallback: string) => env[name]?.trim() || fallback;

  const portText = text("PORT", "8000");
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    problems.push(`PORT=${JSON.stringify(portText)}: not a port number`);
  }
  const timeoutText = text("GATEWAY_TIMEOUT", "60s");
  const timeoutSeconds = parseDurationSeconds(timeoutText);
  if (timeoutSeconds === undefined || timeoutSeconds <= 0) {
    problems.push(`GATEWAY_TIMEOUT=${JSON.stringify(timeoutText)}: not a duration such as 60s`);
  }
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    port,
    host: text("HOST", "0.0.0.0"),
    prepareUrl: text("GATEWAY_PREPARE_URL", "http://127.0.0.1:8001"),
    buildUrl: text("GATEWAY_BUILD_URL", "http://127.0.0.1:8000"),
    timeoutMs: (timeoutSeconds ?? 60) * 1000,
    logLevel: text("LOG_LEVEL", "INFO"),
  };
}
