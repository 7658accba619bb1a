import { spawn } from "node:child_process";

/** How much of a child's output is kept for error messages. */
const OUTPUT_TAIL_CHARS = 8_000;

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SupervisedChild {
  readonly pid: number;
  /** Resolves when the child is gone, whoever ended it. */
  readonly exited: Promise<ChildExit>;
  isRunning(): boolean;
  /** The last few kilobytes the child wrote to stdout and stderr. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the child is gone. */
  stop(graceMs: number): Promise<ChildExit>;
}

/**
 * Starts a helper program (redis-server, podman) the server owns. It runs in
 * its own process group, so a terminal's Ctrl-C reaches only the server,
 * which stops its children after the worker and the HTTP tier let go of them.
 */
export function spawnChild(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<SupervisedChild> {
  const child = spawn(command, args, {
    env: options.env,
    cwd: options.cwd,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let tail = "";
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString("utf8")).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);

  let exit: ChildExit | undefined;
  const exited = new Promise<ChildExit>((resolve) => {
    child.once("exit", (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    });
  });

  return new Promise((resolve, reject) => {
    child.once("error", (error) => reject(new Error(`cannot start ${command}: ${error.message}`)));
    child.once("spawn", () => {
      const pid = child.pid as number;
      resolve({
        pid,
        exited,
        isRunning: () => exit === undefined,
        output: () => tail,
        async stop(graceMs) {
          if (exit) return exit;
          child.kill("SIGTERM");
          const killer = setTimeout(() => child.kill("SIGKILL"), graceMs);
          const result = await exited;
          clearTimeout(killer);
          return result;
        },
      });
    });
  });
}

/** How a child ended, for error messages: `exit code 1` or `signal SIGKILL`. */
export function describeExit(exit: ChildExit): string {
  return exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
}
