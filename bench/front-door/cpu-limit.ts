/**
 * A CPU quota on one process, as compose gives a replica, so the tier leaves
 * the proxy the cores a deployment would. Needs root and a cgroup cpu controller.
 */
import { mkdirSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const PERIOD_US = 100_000;

export interface CpuLimit {
  /** Where the quota is set, for the report. */
  path: string;
  /** Removes the cgroup; call after the process exited. */
  remove(): void;
}

/** Caps `pid` (and what it spawns) at `cpus` cores; throws when no cgroup can be written. */
export function limitCpu(pid: number, cpus: number, name: string): CpuLimit {
  const quota = String(Math.round(cpus * PERIOD_US));
  const v1 = join("/sys/fs/cgroup/cpu", name);
  const v2 = join("/sys/fs/cgroup", name);
  const attempts: Array<[string, () => void]> = [
    [
      v1,
      () => {
        mkdirSync(v1, { recursive: true });
        writeFileSync(join(v1, "cpu.cfs_period_us"), String(PERIOD_US));
        writeFileSync(join(v1, "cpu.cfs_quota_us"), quota);
        writeFileSync(join(v1, "cgroup.procs"), String(pid));
      },
    ],
    [
      v2,
      () => {
        mkdirSync(v2, { recursive: true });
        writeFileSync(join(v2, "cpu.max"), `${quota} ${PERIOD_US}`);
        writeFileSync(join(v2, "cgroup.procs"), String(pid));
      },
    ],
  ];
  const errors: string[] = [];
  for (const [path, apply] of attempts) {
    try {
      apply();
      return { path, remove: () => rmdirSync(path) };
    } catch (error) {
      errors.push(`${path}: ${(error as Error).message}`);
      try {
        rmdirSync(path);
      } catch {
        // Not made, or the process is still in it.
      }
    }
  }
  throw new Error(`cannot cap CPU of process ${pid}: ${errors.join("; ")}`);
}
