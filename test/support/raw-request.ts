import { request } from "node:http";

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * Sends `path` exactly as written. fetch() resolves `..` and `%2e` segments
 * and merges slashes on the client side, which would hide what a server does
 * with them; traversal and double-slash tests need the raw request line.
 * Also the cheap client of benches: Node's own agent keeps connections alive,
 * without fetch's CPU per request.
 */
export function rawRequest(
  baseUrl: string,
  path: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    /** Fails the request when the server is silent this long. */
    timeoutMs?: number;
  } = {},
): Promise<RawResponse> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const outgoing = request(
      { hostname, port, path, method: options.method ?? "GET", headers: options.headers },
      (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
        incoming.on("end", () =>
          resolve({
            status: incoming.statusCode ?? 0,
            headers: incoming.headers,
            body: Buffer.concat(chunks),
          }),
        );
        incoming.on("error", reject);
      },
    );
    if (options.timeoutMs !== undefined) {
      outgoing.setTimeout(options.timeoutMs, () =>
        outgoing.destroy(new Error(`${path}: no answer within ${options.timeoutMs} ms`)),
      );
    }
    outgoing.on("error", reject);
    outgoing.end(options.body);
  });
}
