const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/**
 * Parses the Python server's duration forms (`30m`, `24h`, `7d`, or plain
 * seconds) into seconds. Returns undefined for anything else so callers can
 * report the offending variable by name.
 */
export function parseDurationSeconds(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$/i.exec(text);
  if (!match?.[1]) return undefined;
  const unit = (match[2] || "s").toLowerCase();
  const factor = UNIT_SECONDS[unit];
  if (factor === undefined) return undefined;
  return Math.round(Number(match[1]) * factor);
}

/** The shortest exact form, so logs and the home page show `7d`, not `604800`. */
export function formatDuration(seconds: number): string {
  for (const [unit, factor] of [
    ["d", 86_400],
    ["h", 3600],
    ["m", 60],
  ] as const) {
    if (seconds >= factor && seconds % factor === 0) return `${seconds / factor}${unit}`;
  }
  return `${seconds}s`;
}
