import { request } from "node:http";

export interface PodmanAnswer {
  status: number;
  body: string;
}

/** One request to the Podman API on its unix socket; rejects on connection errors and timeouts. */
export function podmanRequest(
  socketPath: string,
  method: string,
  path: string,
  options: { body?: unknown; timeoutMs?: number } = {},
): Promise<PodmanAnswer> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        path,
        method,
        timeout: options.timeoutMs ?? 10_000,
        headers: payload ? { "content-type": "application/json" } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error(`Podman API ${method} ${path} timed out`)));
    req.end(payload);
  });
}

/** The API's own error text (`{"message": …}`), else the raw body. */
export function podmanMessage(answer: PodmanAnswer): string {
  try {
    const parsed = JSON.parse(answer.body) as { message?: unknown };
    if (typeof parsed.message === "string") return parsed.message;
  } catch {}
  return answer.body.trim();
}
