import { readFileSync } from "node:fs";
import { mkdir, open, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "@asu/observability";

/** Who uses a data folder: the server process and the helper programs it started. */
interface LockContent {
  pid: number;
  children: Record<string, number>;
}

export interface DataLock {
  /** Remembers the helpers' pids, so a successor can stop them if this process is killed. */
  record(children: Record<string, number>): Promise<void>;
  release(): Promise<void>;
}

export class DataInUseError extends Error {
  constructor(dataDir: string, pid: number) {
    super(`another ASU server (pid ${pid}) is using ${dataDir}: stop it first`);
    this.name = "DataInUseError";
  }
}

const LOCK_FILE = "server.lock";
const LEFTOVER_GRACE_MS = 10_000;

/** A zombie (exited, not yet reaped by whoever inherited it) counts as gone. */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  return !isZombie(pid);
}

/** The program a pid runs now, from /proc; undefined where /proc cannot tell. */
function commandOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return undefined;
  }
}

/**
 * Stops a helper a killed server left running, only when /proc confirms it
 * is still that program: a recycled pid must never be signalled.
 */
async function stopLeftover(program: string, pid: number, logger: Logger): Promise<void> {
  if (!isAlive(pid)) return;
  const command = commandOf(pid);
  if (!command?.includes(program)) {
    if (command === undefined) logger.warn({ program, pid }, "cannot check a leftover helper");
    return;
  }
  logger.warn({ program, pid }, "stopping a helper left running by a killed server");
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + LEFTOVER_GRACE_MS;
  while (isAlive(pid) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (isAlive(pid)) process.kill(pid, "SIGKILL");
}

async function readLock(path: string): Promise<LockContent | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, "utf8")) as Partial<LockContent>;
    if (typeof parsed.pid !== "number") return undefined;
    return { pid: parsed.pid, children: parsed.children ?? {} };
  } catch {
    return undefined;
  }
}

/**
 * One server per data folder: two redis-servers appending to one file would
 * corrupt it. A lock left by a killed server is taken over after stopping
 * the helpers it recorded.
 */
export async function lockDataDir(dataDir: string, logger: Logger): Promise<DataLock> {
  await mkdir(dataDir, { recursive: true });
  const path = join(dataDir, LOCK_FILE);
  let content: LockContent = { pid: process.pid, children: {} };
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(path, "wx");
      await handle.writeFile(JSON.stringify(content));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw error;
    }
    const previous = await readLock(path);
    if (previous && previous.pid !== process.pid && isAlive(previous.pid)) {
      const command = commandOf(previous.pid);
      if (command === undefined || command.includes("node")) {
        throw new DataInUseError(dataDir, previous.pid);
      }
    }
    for (const [program, pid] of Object.entries(previous?.children ?? {})) {
      await stopLeftover(program, pid, logger);
    }
    await rm(path, { force: true });
  }
  return {
    async record(children) {
      content = { pid: process.pid, children: { ...content.children, ...children } };
      await writeFile(path, JSON.stringify(content));
    },
    async release() {
      await rm(path, { force: true });
    },
  };
}
