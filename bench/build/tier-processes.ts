// The tiers as deployed, each started by its own `pnpm start:…` script in a
// process group of its own, and their resident memory read from /proc.
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface TierProcess {
  name: string;
  child: ChildProcess;
}

export function startTierProcess(
  name: string,
  script: string,
  env: Record<string, string>,
): TierProcess {
  const child = spawn("pnpm", ["--silent", script], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
    detached: true,
  });
  let errors = "";
  child.stderr?.on("data", (chunk) => {
    errors = (errors + String(chunk)).slice(-4000);
  });
  child.once("exit", (code, signal) => {
    if (code && signal === null) console.error(`${name} exited ${code}: ${errors}`);
  });
  return { name, child };
}

/** SIGTERM to the group (SIGKILL after 30 s); a group already gone is stopped. */
export function stopTierProcess({ child }: TierProcess): Promise<void> {
  const signal = (name: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, name);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
    }
  };
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null || !child.pid) return resolve();
    child.once("exit", () => resolve());
    signal("SIGTERM");
    setTimeout(() => signal("SIGKILL"), 30_000).unref();
  });
}

/** Resident memory (bytes) of the largest process in the tree under `pid`: the tier's node, not pnpm. */
export function treeRss(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const parents = new Map<number, number[]>();
  const rss = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, "utf8");
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]);
      const kb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      rss.set(Number(name), kb * 1024);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(name)]);
    } catch {
      // Gone meanwhile.
    }
  }
  let largest = 0;
  const stack = [pid];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    largest = Math.max(largest, rss.get(next) ?? 0);
    stack.push(...(parents.get(next) ?? []));
  }
  return largest;
}
