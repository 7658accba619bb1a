import type Docker from "dockerode";

/**
 * Waits until no container carries `label`: workers remove a finished
 * build's container right after answering, not before.
 */
export async function containersGone(
  docker: Docker,
  label: string,
  timeoutMs = 15_000,
): Promise<Docker.ContainerInfo[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await docker.listContainers({ all: true, filters: { label: [label] } });
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
