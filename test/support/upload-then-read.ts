import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export interface UploadAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Posts `body` as Python's urllib and requests do: the whole body first, and
 * only then the answer is read. `seconds` spreads the body over that time, as
 * a slow uplink does, so a server that answers early and closes while the body
 * still arrives shows here as a broken pipe or a reset, not as its answer.
 * `chunked` sends it without a Content-Length.
 */
export async function uploadThenRead(
  url: string,
  body: Buffer,
  options: { seconds: number; chunked?: boolean },
): Promise<UploadAnswer> {
  const { hostname, port, pathname, search } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port) });
  const received: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => received.push(chunk));
  const ended = new Promise<void>((resolve, reject) => {
    socket.on("end", resolve);
    socket.on("close", () => resolve());
    socket.on("error", reject);
  });
  // Awaited after the body is written; a write that fails first reports the failure.
  ended.catch(() => undefined);
  const write = (data: string | Buffer) =>
    new Promise<void>((resolve, reject) =>
      socket.write(data, (error) => (error ? reject(error) : resolve())),
    );
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  await write(
    [
      `POST ${pathname}${search} HTTP/1.1`,
      `Host: ${hostname}:${port}`,
      "Content-Type: application/json",
      options.chunked ? "Transfer-Encoding: chunked" : `Content-Length: ${body.length}`,
      "Connection: close",
      "",
      "",
    ].join("\r\n"),
  );
  const step = 64 * 1024;
  const parts = Math.ceil(body.length / step);
  for (let index = 0; index < parts; index++) {
    const part = body.subarray(index * step, (index + 1) * step);
    await write(
      options.chunked
        ? Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from("\r\n")])
        : part,
    );
    await sleep((options.seconds * 1000) / parts);
  }
  if (options.chunked) await write("0\r\n\r\n");
  await ended;
  socket.destroy();

  const raw = Buffer.concat(received).toString("latin1");
  const headerEnd = raw.indexOf("\r\n\r\n");
  const [statusLine = "", ...headerLines] = raw.slice(0, headerEnd).split("\r\n");
  const headers = Object.fromEntries(
    headerLines.map((line) => {
      const colon = line.indexOf(":");
      return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
    }),
  );
  let rest = raw.slice(headerEnd + 4);
  if (headers["transfer-encoding"] === "chunked") {
    let text = "";
    for (;;) {
      const lineEnd = rest.indexOf("\r\n");
      const size = Number.parseInt(rest.slice(0, lineEnd), 16);
      if (!size) break;
      text += rest.slice(lineEnd + 2, lineEnd + 2 + size);
      rest = rest.slice(lineEnd + 2 + size + 2);
    }
    rest = text;
  }
  return {
    status: Number(statusLine.split(" ")[1]),
    headers,
    body: Buffer.from(rest, "latin1").toString("utf8"),
  };
}
