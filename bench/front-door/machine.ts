/**
 * What the machine does besides the bench's processes: saturated cores make
 * the ratio measure contention, and connection counts show proxy churn.
 */
import { readFileSync } from "node:fs";

/** Busy and total CPU time of all cores so far, in seconds (/proc/stat). */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
  // cpu user nice system idle iowait irq softirq steal …, in ticks of 1/100 s.
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = ticks.reduce((sum, tick) => sum + tick, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return { busy: (total - idle) / 100, total: total / 100 };
}

/**
 * Reads and writes `pid` made so far (/proc/PID/io), NaN once it is gone: a
 * count per request does not grow with neighbours' load, unlike CPU time.
 */
export function syscalls(pid: number | undefined): number {
  try {
    const io = readFileSync(`/proc/${pid}/io`, "utf8");
    return Number(/^syscr: (\d+)/m.exec(io)?.[1]) + Number(/^syscw: (\d+)/m.exec(io)?.[1]);
  } catch {
    return Number.NaN;
  }
}

export interface TierConnections {
  /** Distinct connections seen established to each port since the start. */
  stop(): Record<number, number>;
}

const ESTABLISHED = "01";

/**
 * Counts distinct peers of established connections to `ports`, sampled every
 * `intervalMs`: churn shows as a count far above the clients.
 */
export function watchConnections(ports: number[], intervalMs = 200): TierConnections {
  const seen = new Map<number, Set<string>>(ports.map((port) => [port, new Set()]));
  const wanted = new Map(
    ports.map((port) => [port.toString(16).toUpperCase().padStart(4, "0"), port]),
  );
  const sample = () => {
    const table = ["/proc/net/tcp", "/proc/net/tcp6"].flatMap((path) =>
      readFileSync(path, "utf8").split("\n").slice(1),
    );
    for (const line of table) {
      const fields = line.trim().split(/\s+/);
      const [local, remote, state] = [fields[1], fields[2], fields[3]];
      if (!local || !remote || state !== ESTABLISHED) continue;
      const port = wanted.get(local.slice(local.indexOf(":") + 1));
      if (port !== undefined) seen.get(port)?.add(remote);
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return Object.fromEntries([...seen].map(([port, peers]) => [port, peers.size]));
    },
  };
}
