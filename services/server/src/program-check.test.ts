import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  findProgram,
  MissingProgramError,
  PODMAN_PROGRAM,
  REDIS_PROGRAM,
  requirePrograms,
} from "./program-check.ts";

let first: string;
let second: string;

beforeAll(async () => {
  first = await mkdtemp(join(tmpdir(), "asu-path-a-"));
  second = await mkdtemp(join(tmpdir(), "asu-path-b-"));
  // Not executable: a shell skips it, so must we.
  await writeFile(join(first, "redis-server"), "");
  await writeFile(join(second, "redis-server"), "#!/bin/sh\n");
  await chmod(join(second, "redis-server"), 0o755);
});

afterAll(async () => {
  await rm(first, { recursive: true, force: true });
  await rm(second, { recursive: true, force: true });
});

describe("findProgram", () => {
  it("takes the first executable file on PATH", () => {
    expect(findProgram("redis-server", `${first}:${second}`)).toBe(join(second, "redis-server"));
    expect(findProgram("redis-server", `::${second}`)).toBe(join(second, "redis-server"));
  });

  it("finds nothing on an empty or missing PATH, and no directories", () => {
    expect(findProgram("redis-server", undefined)).toBeUndefined();
    expect(findProgram("redis-server", "")).toBeUndefined();
    expect(findProgram(first.split("/").pop() as string, tmpdir())).toBeUndefined();
  });
});

describe("requirePrograms", () => {
  it("returns the path of each program", () => {
    const found = requirePrograms([REDIS_PROGRAM], second);
    expect(found.get(REDIS_PROGRAM)).toBe(join(second, "redis-server"));
  });

  it("names every missing program, its Debian package and the setting that avoids it", () => {
    let error: unknown;
    try {
      requirePrograms([REDIS_PROGRAM, PODMAN_PROGRAM], first);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(MissingProgramError);
    expect((error as MissingProgramError).missing).toEqual([REDIS_PROGRAM, PODMAN_PROGRAM]);
    expect((error as Error).message).toBe(
      [
        "redis-server not found on PATH: install it (apt-get install redis-server) or set REDIS_URL",
        "podman not found on PATH: install it (apt-get install podman) or set CONTAINER_SOCKET_PATH",
      ].join("\n"),
    );
  });

  it("needs nothing when nothing is needed", () => {
    expect(requirePrograms([], undefined).size).toBe(0);
  });
});
