import { connect, createServer, type Socket } from "node:net";

export interface TcpRelay {
  /** Port the relay listens on, at the host it was given. */
  port: number;
  close(): Promise<void>;
}

/**
 * Passes every connection to `host:port` on to a loopback port, so containers
 * can reach a test server bound to 127.0.0.1 (the fake upstream) at an address
 * of the host they see, such as their network's gateway.
 */
export async function startTcpRelay(options: {
  host: string;
  targetPort: number;
}): Promise<TcpRelay> {
  const sockets = new Set<Socket>();
  const server = createServer((incoming) => {
    const outgoing = connect(options.targetPort, "127.0.0.1");
    for (const socket of [incoming, outgoing]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    }
    incoming.on("error", () => outgoing.destroy());
    outgoing.on("error", () => incoming.destroy());
    incoming.pipe(outgoing).pipe(incoming);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, options.host, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("relay has no port");
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
