import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { runPodman } from "./podman-service.ts";
import { type CommandResult, runCommand } from "./run-command.ts";

export interface ComposeContainer {
  name: string;
  service: string;
}

export interface ComposeStack {
  project: string;
  containers(): Promise<ComposeContainer[]>;
  /** Container states and log tails, for failure messages that say what went wrong. */
  diagnostics(): Promise<string>;
  /** `down -v`, then whatever it left behind: containers, the network, volumes. */
  down(): Promise<void>;
}

export interface ComposeStackOptions {
  /** The podman-compose executable. */
  compose: string;
  /** The compose file in the repository; it is copied next to its own .env. */
  composeFile: string;
  project: string;
  /** The deployment's .env: what an operator writes. */
  env: Record<string, string>;
  /** Environment of podman and podman-compose (CONTAINERS_CONF). */
  podmanEnv: Record<string, string>;
}

/**
 * Starts a compose file as an operator does: the file in a directory of its
 * own beside a .env, `podman-compose up -d`. The images must exist already
 * (`--no-build`). podman-compose gets a clean environment, so variables of the
 * test process cannot stand in for the .env.
 */
export async function startComposeStack(options: ComposeStackOptions): Promise<ComposeStack> {
  const dir = await mkdtemp(join(tmpdir(), "asu-compose-"));
  const file = basename(options.composeFile);
  await copyFile(options.composeFile, join(dir, file));
  await writeFile(
    join(dir, ".env"),
    `${Object.entries(options.env)
      .map(([key, value]) => `${key}=${value}`)
      .join("\n")}\n`,
  );
  const composeEnv = {
    PATH: options.podmanEnv.PATH ?? "/usr/bin:/bin",
    HOME: options.podmanEnv.HOME ?? "/root",
    CONTAINERS_CONF: options.podmanEnv.CONTAINERS_CONF ?? "",
  };
  const podmanCompose = (args: string[], allowFailure = false): Promise<CommandResult> =>
    runCommand(options.compose, ["-p", options.project, "-f", file, ...args], {
      env: composeEnv,
      cwd: dir,
      allowFailure,
    });
  const label = `label=io.podman.compose.project=${options.project}`;

  const containers = async (): Promise<ComposeContainer[]> => {
    const { stdout } = await runPodman(options.podmanEnv, [
      "ps",
      "-a",
      "--filter",
      label,
      "--format",
      '{{.Names}} {{index .Labels "com.docker.compose.service"}}',
    ]);
    return stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const [name = "", service = ""] = line.split(" ");
        return { name, service };
      });
  };

  const diagnostics = async (): Promise<string> => {
    const lines: string[] = [];
    for (const { name } of await containers()) {
      const state = await runPodman(
        options.podmanEnv,
        ["inspect", "--format", "{{.State.Status}}", name],
        { allowFailure: true },
      );
      const logs = await runPodman(options.podmanEnv, ["logs", "--tail", "15", name], {
        allowFailure: true,
      });
      lines.push(`--- ${name} (${state.stdout.trim()})`, logs.stdout.trim(), logs.stderr.trim());
    }
    return lines.join("\n");
  };

  const down = async (): Promise<void> => {
    await podmanCompose(["down", "-v"], true);
    const left = await containers().catch(() => []);
    if (left.length > 0) {
      await runPodman(options.podmanEnv, ["rm", "-f", "-t", "0", ...left.map(({ name }) => name)], {
        allowFailure: true,
      });
    }
    // podman-compose 1.0 leaves the project's network.
    await runPodman(options.podmanEnv, ["network", "rm", "-f", `${options.project}_default`], {
      allowFailure: true,
    });
    const volumes = await runPodman(options.podmanEnv, ["volume", "ls", "-q", "--filter", label], {
      allowFailure: true,
    });
    const leftVolumes = volumes.stdout.split("\n").filter(Boolean);
    if (leftVolumes.length > 0) {
      await runPodman(options.podmanEnv, ["volume", "rm", "-f", ...leftVolumes], {
        allowFailure: true,
      });
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    // podman-compose 1.0 ignores the compose files' driver_opts: the stack's
    // network is made isolated beforehand, as the files tell operators to.
    await runPodman(options.podmanEnv, [
      "network",
      "create",
      "--opt",
      "isolate=true",
      "--label",
      `io.podman.compose.project=${options.project}`,
      `${options.project}_default`,
    ]);
    await podmanCompose(["up", "-d", "--no-build"]);
  } catch (error) {
    const details = await diagnostics().catch(() => "");
    await down();
    throw new Error(`${(error as Error).message}\n${details}`);
  }
  return { project: options.project, containers, diagnostics, down };
}
