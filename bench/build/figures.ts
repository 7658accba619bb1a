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
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which is in parentheses and may hold spaces;
    // utime and stime are fields 14 and 15 of stat(5), in ticks of 1/100 s.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}
