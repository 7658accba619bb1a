import { readdirSync, readFileSync } from "node:fs";
import { procStat } from "./figures.ts";

/*
 * CPU seconds of process trees, from Linux /proc: what each tier, the
 * Podman service and Redis spend while a phase runs. The machine's total
 * would count whatever else runs on it; a tree counts only its own.
 */

interface Stat {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime + cutime + cstime: its own and its reaped children's. */
  seconds: number;
}

function readStats(): Stat[] {
  const stats: Stat[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = procStat(readFileSync(`/proc/${name}/stat`, "utf8"));
      // ppid is field 4 of stat(5), utime to cstime 14 to 17.
      const seconds = stat.ticks([14, 15, 16, 17]) / 100;
      stats.push({ pid: Number(name), ppid: stat.field(4), comm: stat.comm, seconds });
    } catch {
      // Gone meanwhile.
    }
  }
  return stats;
}

/**
 * CPU seconds of each named tree (trees of one name add up), and of the
 * trees of this process's children by command name (e.g. the Podman service).
 */
export function treeCpu(
  roots: readonly (readonly [string, number | undefined])[],
  childrenByComm: Record<string, string> = {},
): Record<string, number> {
  const stats = readStats();
  const children = new Map<number, Stat[]>();
  for (const stat of stats) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), stat]);
  const byPid = new Map(stats.map((stat) => [stat.pid, stat]));
  const tree = (pid: number | undefined): number => {
    if (pid === undefined) return 0;
    let sum = 0;
    const stack = [pid];
    for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
      sum += byPid.get(next)?.seconds ?? 0;
      for (const child of children.get(next) ?? []) stack.push(child.pid);
    }
    return sum;
  };
  const out: Record<string, number> = {};
  for (const [name, pid] of roots) out[name] = (out[name] ?? 0) + tree(pid);
  for (const [name, comm] of Object.entries(childrenByComm)) {
    const mine = (children.get(process.pid) ?? []).filter((stat) => stat.comm === comm);
    out[name] = mine.reduce((sum, stat) => sum + tree(stat.pid), 0);
  }
  return out;
}

/** What each tree spent between two readings, e.g. `build tier 1.2 s, workers 3.4 s`. */
export function cpuLine(before: Record<string, number>, after: Record<string, number>): string {
  return Object.keys(after)
    .map((name) => `${name} ${((after[name] ?? 0) - (before[name] ?? 0)).toFixed(2)} s`)
    .join(", ");
}

/** CPU seconds of this process's children that ended and were reaped: the `podman run`s it ran. */
export function reapedChildrenCpu(): number {
  // cutime and cstime, fields 16 and 17 of stat(5).
  return procStat(readFileSync("/proc/self/stat", "utf8")).ticks([16, 17]) / 100;
}

/**
 * Resolves once `spent` (CPU seconds of whatever must be done) grew by at
 * most a tick (10 ms) in 250 ms, or after `maxMs`: a phase timed next must
 * not pay for what the previous one left running.
 */
export async function untilQuiet(spent: () => number, maxMs = 20_000): Promise<void> {
  const deadline = Date.now() + maxMs;
  let last = spent();
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const now = spent();
    if (now - last <= 0.01) return;
    last = now;
  }
}
