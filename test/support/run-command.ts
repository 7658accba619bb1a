import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Resolve instead of throwing when the command exits non-zero. */
  allowFailure?: boolean;
  /** Text piped to stdin. */
  input?: string;
}

/** Keeps the end of long output (image builds print thousands of lines). */
const TAIL = 6_000;

/** Runs a program to completion; throws with the tail of its output when it fails. */
export function runCommand(
  command: string,
  args: readonly string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk));
    if (options.input !== undefined) child.stdin?.end(options.input);
    child.on("error", (error) => reject(new Error(`cannot run ${command}: ${error.message}`)));
    child.on("close", (code) => {
      const result = {
        code: code ?? -1,
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8"),
      };
      if (result.code !== 0 && !options.allowFailure) {
        const output = `${result.stdout}\n${result.stderr}`.trim().slice(-TAIL);
        reject(new Error(`${command} ${args.join(" ")} exited ${result.code}:\n${output}`));
      } else {
        resolve(result);
      }
    });
  });
}

/**
 * Where the program `name` is: PATH first, then the sbin directories (where
 * debootstrap lives, and which a non-login PATH may lack); undefined if nowhere.
 */
export function findCommand(name: string, path = process.env.PATH ?? ""): string | undefined {
  const dirs = [...path.split(delimiter), "/usr/local/sbin", "/usr/sbin", "/sbin"];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
