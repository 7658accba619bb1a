import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";

/** A program the one-command server starts itself unless the operator points it elsewhere. */
export interface ManagedProgram {
  program: string;
  /** The Debian/Ubuntu package that installs it. */
  debianPackage: string;
  /** The setting that makes the server use a running instance instead. */
  insteadSet: string;
}

export const REDIS_PROGRAM: ManagedProgram = {
  program: "redis-server",
  debianPackage: "redis-server",
  insteadSet: "REDIS_URL",
};

export const PODMAN_PROGRAM: ManagedProgram = {
  program: "podman",
  debianPackage: "podman",
  insteadSet: "CONTAINER_SOCKET_PATH",
};

export class MissingProgramError extends Error {
  readonly missing: readonly ManagedProgram[];

  constructor(missing: readonly ManagedProgram[]) {
    super(
      missing
        .map(
          (entry) =>
            `${entry.program} not found on PATH: install it (apt-get install ${entry.debianPackage}) or set ${entry.insteadSet}`,
        )
        .join("\n"),
    );
    this.name = "MissingProgramError";
    this.missing = missing;
  }
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The program's path on PATH, as a shell would find it; undefined when absent. */
export function findProgram(
  program: string,
  pathVariable: string | undefined,
  isExecutable: (path: string) => boolean = isExecutableFile,
): string | undefined {
  for (const dir of (pathVariable ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, program);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Finds every needed program, or throws one error naming all missing ones,
 * so an operator installs them in one go instead of one failed start each.
 */
export function requirePrograms(
  needed: readonly ManagedProgram[],
  pathVariable: string | undefined,
  isExecutable?: (path: string) => boolean,
): Map<ManagedProgram, string> {
  const found = new Map<ManagedProgram, string>();
  const missing: ManagedProgram[] = [];
  for (const entry of needed) {
    const path = findProgram(entry.program, pathVariable, isExecutable);
    if (path) found.set(entry, path);
    else missing.push(entry);
  }
  if (missing.length > 0) throw new MissingProgramError(missing);
  return found;
}
