import { readdirSync, readFileSync } from "node:fs";

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
      const text = readFileSync(`/proc/${name}/stat`, "utf8");
      const comm = text.slice(text.indexOf("(") + 1, text.lastIndexOf(")"));
      // Fields after the command name; ppid is field 4 of stat(5), utime to cstime 14 to 17.
      const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
      const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
      stats.push({ pid: Number(name), ppid: Number(fields[1]), comm, seconds: ticks / 100 });
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
  const text = readFileSync("/proc/self/stat", "utf8");
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[13]) + Number(fields[14])) / 100;
}
