// The floor a build cannot go below: the same ImageBuilder commands in one
// `podman run --rm` of the same image, with the build container's settings.
import { runPodman } from "../../test/support/podman-service.ts";

export interface BaselineOptions {
  podmanEnv: Record<string, string>;
  image: string;
  /** `/builder/{hash}`: a tmpfs, as in the worker's container. */
  binDir: string;
  network: string;
  /** Unique, so an interrupted run can be removed by name. */
  name: string;
}

/** Single quotes for sh; the arguments come from our own requests (pattern P), never with a `'`. */
function quote(argument: string): string {
  if (argument.includes("'")) throw new Error(`cannot quote ${argument}`);
  return `'${argument}'`;
}

function podmanRunArgs(options: BaselineOptions, command: readonly string[]): string[] {
  return [
    "run",
    "--rm",
    "--name",
    options.name,
    "--user",
    "buildbot",
    "--workdir",
    "/builder",
    "--tmpfs",
    options.binDir,
    "--network",
    options.network,
    "--cap-drop",
    "all",
    "--security-opt",
    "no-new-privileges",
    options.image,
    ...command,
  ];
}

/** Runs the commands one after the other in a shell of one container; milliseconds it took. */
export async function baselineBuild(
  options: BaselineOptions,
  commands: readonly (readonly string[])[],
): Promise<number> {
  const script = commands.map((argv) => argv.map(quote).join(" ")).join(" && ");
  const started = performance.now();
  const result = await runPodman(options.podmanEnv, podmanRunArgs(options, ["sh", "-c", script]), {
    allowFailure: true,
  });
  const elapsed = performance.now() - started;
  if (result.code !== 0) {
    throw new Error(`baseline build exited ${result.code}: ${result.stderr.trim()}`);
  }
  return elapsed;
}

/** The same container doing nothing: what starting and removing one costs. */
export async function emptyRun(options: BaselineOptions): Promise<number> {
  const started = performance.now();
  await runPodman(options.podmanEnv, podmanRunArgs(options, ["true"]));
  return performance.now() - started;
}
