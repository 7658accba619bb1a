import type Docker from "dockerode";
import { execInContainer } from "./containers.ts";

/** What a probe says to a port and the answer that shows it got through. */
export interface ProbeProtocol {
  say: string;
  answer: string;
}

export const HTTP: ProbeProtocol = { say: "GET /config HTTP/1.0\\r\\n\\r\\n", answer: "200 OK" };
export const REDIS: ProbeProtocol = { say: "PING\\r\\n", answer: "PONG" };

/** A script's output lines, run inside the container as buildbot. */
export async function execText(
  docker: Docker,
  container: Docker.Container,
  script: string,
): Promise<string[]> {
  const { stdout, stderr } = await execInContainer(docker, container, ["sh", "-c", script], {
    User: "buildbot",
  });
  return `${stdout}${stderr}`.trim().split("\n");
}

/**
 * `open` or `closed` per address, from inside a container of the
 * ImageBuilder double: `open` only when the service answered.
 */
export function probe(
  docker: Docker,
  container: Docker.Container,
  targets: [host: string, port: number | string, protocol?: ProbeProtocol][],
): Promise<string[]> {
  const script = targets
    .map(
      // busybox's nc: its static wget crashes on this host.
      ([host, port, { say, answer } = HTTP]) =>
        // The pause keeps nc from closing before a fast server (Redis) answers.
        `if { printf '${say}'; sleep 1; } | nc -w 3 ${host} ${port} 2>/dev/null | grep -q '${answer}'; then echo open; else echo closed; fi`,
    )
    .join("; ");
  return execText(docker, container, script);
}
