import { readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function minimum(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : Math.min(...values);
}

export function ms(value: number): string {
  return `${value.toFixed(0)} ms`;
}

/** Other work on the machine skews every figure; printed so a reader can tell. */
export function machineLoad(): string {
  const [one, five] = loadavg();
  return `machine: ${availableParallelism()} CPUs, load average ${one?.toFixed(2)} (1 min) ${five?.toFixed(2)} (5 min)`;
}

/**
 * CPU seconds process `pid` has used so far (user + system, from Linux
 * /proc); NaN once it is gone. On a machine shared with other work, CPU per
 * request drifts far less than requests/s.
 */
export function cpuSeconds(pid: number | undefined): number {
  try {
    return procStat(readFileSync(`/proc/${pid}/stat`, "utf8")).ticks([14, 15]) / 100;
  } catch {
    return Number.NaN;
  }
}

/**
 * A /proc/PID/stat line read by stat(5)'s field numbers: `comm` (field 2,
 * in parentheses and free to hold spaces) and the sum of numeric fields,
 * such as utime (14) and stime (15), in ticks of 1/100 s.
 */
export function procStat(text: string): {
  comm: string;
  field(n: number): number;
  ticks(ns: number[]): number;
} {
  const comm = text.slice(text.indexOf("(") + 1, text.lastIndexOf(")"));
  // Fields after the command name; the first of them is field 3.
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const field = (n: number) => Number(rest[n - 3]);
  return { comm, field, ticks: (ns) => ns.reduce((sum, n) => sum + field(n), 0) };
}
