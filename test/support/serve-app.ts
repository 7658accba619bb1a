import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";

export interface ServedApp {
  url: string;
  close(): Promise<void>;
}

/** Serves a fetch handler on a real loopback port, so tests speak real HTTP. */
export async function serveApp(app: { fetch: (request: Request) => Response | Promise<Response> }) {
  return new Promise<ServedApp>((resolve) => {
    const server = serve(
      { fetch: app.fetch, port: 0, hostname: "127.0.0.1" },
      (info: AddressInfo) => {
        resolve({
          url: `http://127.0.0.1:${info.port}`,
          close: () =>
            new Promise<void>((done) => {
              if ("closeAllConnections" in server) server.closeAllConnections();
              server.close(() => done());
            }),
        });
      },
    );
  });
}
