/**
 * What the whole machine does during a run, besides the processes the bench
 * started: whether its cores are saturated (then proxy, tiers and load
 * generator contend for them and the ratio measures that contention), and
 * how many connections each tier accepted (a proxy that reuses its upstream
 * connections opens about as many as it has clients; churn would show as
 * thousands). Linux /proc only.
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
 * System calls process `pid` has made so far (reads and writes, from
 * /proc/PID/io; polls and futexes are not counted); NaN once it is gone.
 * Unlike CPU time, a count per request does not grow when neighbours load
 * the machine, so it compares proxied and direct work under load.
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
 * Samples the established TCP connections to `ports` (IPv4, and IPv6 where a
 * dual-stack listener such as Caddy's keeps them) every `intervalMs` and
 * counts distinct peers. A connection
 * that lives shorter than the interval can be missed, so churn shows as a
 * count far above the clients, not as an exact figure.
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
