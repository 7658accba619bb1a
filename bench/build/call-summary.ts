import type { TraceEvent } from "./docker-trace.ts";
import { median } from "./figures.ts";

/** One name per kind of call, whichever build made it: hashes and image names dropped. */
export function callKey(event: TraceEvent): string {
  const detail = event.detail
    .replace(/^\/builder\/[0-9a-f]{64}\/profiles\.json$/, "profiles.json")
    .replace(/^\/builder\/[0-9a-f]{64}$/, "BIN_DIR");
  const keep = event.call.startsWith("Exec.") || event.call.startsWith("Container.exec");
  const shown = keep || !detail.includes(":") ? detail : "";
  return shown ? `${event.call} [${shown}]` : event.call;
}

export function callDurations(events: readonly TraceEvent[]): Map<string, number[]> {
  const durations = new Map<string, number[]>();
  for (const event of events) {
    const key = callKey(event);
    durations.set(key, [...(durations.get(key) ?? []), event.end - event.start]);
  }
  return durations;
}

/** Median duration of each kind of call, side by side for several sets of builds. */
export function printCallComparison(columns: { title: string; events: readonly TraceEvent[] }[]) {
  const tables = columns.map((column) => callDurations(column.events));
  const keys = [...new Set(tables.flatMap((table) => [...table.keys()]))];
  const width = Math.max(...keys.map((key) => key.length));
  console.log(
    `${"container API call (median ms)".padEnd(width)}  ${columns.map((c) => c.title.padStart(10)).join("  ")}`,
  );
  for (const key of keys) {
    const cells = tables.map((table) => {
      const values = table.get(key);
      return (values ? median(values).toFixed(1) : "-").padStart(10);
    });
    console.log(`${key.padEnd(width)}  ${cells.join("  ")}`);
  }
}
