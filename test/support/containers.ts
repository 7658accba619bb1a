import { PassThrough } from "node:stream";
import type Docker from "dockerode";
import { vi } from "vitest";
import { BUILD_LABEL } from "../../packages/build-worker/src/build-container.ts";
import { listBuildContainers } from "../../packages/build-worker/src/imagebuilder-session.ts";

/**
 * Waits until no container carries `label`, and returns those still there
 * after `timeoutMs`: workers remove a finished build's container right after
 * answering, not before. A build's (`asu.build={hash}`) include the warm
 * container it took, which is named after it.
 */
export async function containersGone(
  docker: Docker,
  label: string,
  timeoutMs = 15_000,
): Promise<Docker.ContainerInfo[]> {
  let left: Docker.ContainerInfo[] = [];
  const [key, value] = label.split("=");
  await vi
    .waitFor(
      async () => {
        left =
          key === BUILD_LABEL && value
            ? await listBuildContainers(docker, value)
            : await docker.listContainers({ all: true, filters: { label: [label] } });
        if (left.length > 0) throw new Error(`${left.length} containers left`);
      },
      { timeout: timeoutMs, interval: 100 },
    )
    .catch(() => {});
  return left;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `cmd` in a running container, as `podman exec` does, and waits for its exit code. */
export async function execInContainer(
  docker: Docker,
  container: Docker.Container,
  cmd: string[],
  options: Pick<Docker.ExecCreateOptions, "User" | "Env" | "WorkingDir"> = {},
): Promise<ExecResult> {
  const execution = await container.exec({
    ...options,
    Cmd: cmd,
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await execution.start({ hijack: true, stdin: false });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const stdout = new PassThrough().on("data", (chunk: Buffer) => out.push(chunk));
  const stderr = new PassThrough().on("data", (chunk: Buffer) => err.push(chunk));
  docker.modem.demuxStream(stream, stdout, stderr);
  await new Promise<void>((resolve, reject) => {
    stream.on("end", resolve);
    stream.on("close", resolve);
    stream.on("error", reject);
  });
  // The output ends before podman records the exit code.
  const info = await vi.waitFor(
    async () => {
      const inspected = await execution.inspect();
      if (inspected.Running) throw new Error("still running");
      return inspected;
    },
    { timeout: 10_000, interval: 20 },
  );
  return {
    code: info.ExitCode ?? -1,
    stdout: Buffer.concat(out).toString("utf8"),
    stderr: Buffer.concat(err).toString("utf8"),
  };
}
