import {
  Agent,
  type ClientRequest,
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import type { Logger } from "@asu/http";
import { endToEndHeaders, forwardRequestHeaders } from "./forward-headers.ts";
import { type RoundRobinLookup, roundRobinLookup } from "./round-robin-lookup.ts";

export type Tier = "prepare" | "build";

/** Paths the prepare tier answers; every other request goes to the build tier. */
export const PREPARE_PATHS: readonly string[] = ["/api/v1/build/prepare"];

export function tierFor(url: string): Tier {
  const query = url.indexOf("?");
  const path = query === -1 ? url : url.slice(0, query);
  const trimmed = path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
  return PREPARE_PATHS.includes(trimmed) ? "prepare" : "build";
}

export interface GatewayOptions {
  /** Origins of the tiers, e.g. `http://prepare:8001`; a service name may stand for many replicas. */
  prepareUrl: string;
  buildUrl: string;
  logger: Logger;
  /** A tier that has not begun its answer after this long gets the request cut: 504. */
  timeoutMs?: number;
  /** Address choice for tier connections; default: round-robin over the name's addresses. */
  lookup?: RoundRobinLookup;
}

interface Upstream {
  tier: Tier;
  hostname: string;
  port: number;
  agent: Agent;
}

/** Connection failures after which another replica may well answer. */
const RETRYABLE = new Set(["ECONNREFUSED", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH"]);

class TierTimeout extends Error {
  readonly code = "ETIMEDOUT";
}

function parseOrigin(tier: Tier, url: string): Pick<Upstream, "hostname" | "port"> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`${tier} tier URL is not a URL: ${url}`);
  }
  if (parsed.protocol !== "http:" || (parsed.pathname !== "/" && parsed.pathname !== "")) {
    throw new Error(`${tier} tier URL must be an http:// origin without a path: ${url}`);
  }
  // URL keeps IPv6 literals in brackets; sockets want them bare.
  return { hostname: parsed.hostname.replace(/^\[|\]$/g, ""), port: Number(parsed.port || 80) };
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}

/** An answer of the gateway itself, in the tiers' error shape and readable cross-origin. */
function sendError(res: ServerResponse, status: number, detail: string, requestId: string): void {
  const body = JSON.stringify({ detail, status });
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(body),
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "X-Request-Id",
    "X-Request-Id": requestId,
  });
  res.end(body);
}

/**
 * The reverse proxy in front of the tiers: `/api/v1/build/prepare` to the
 * prepare tier, everything else to the build tier. Requests and answers are
 * streamed through unchanged apart from hop-by-hop headers, so the tiers'
 * CORS headers, preflight answers, redirects and byte ranges reach clients
 * as the tiers wrote them.
 */
export function createGateway(options: GatewayOptions): Server {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const lookup = options.lookup ?? roundRobinLookup();
  // FIFO hands requests to the idle connection used longest ago, so load
  // spreads over every replica a connection was opened to.
  const agentOptions = { keepAlive: true, scheduling: "fifo" as const, maxSockets: 256 };
  const upstreams: Record<Tier, Upstream> = {
    prepare: {
      tier: "prepare",
      ...parseOrigin("prepare", options.prepareUrl),
      agent: new Agent(agentOptions),
    },
    build: {
      tier: "build",
      ...parseOrigin("build", options.buildUrl),
      agent: new Agent(agentOptions),
    },
  };
  const logger = options.logger;

  const forward = (
    req: IncomingMessage,
    res: ServerResponse,
    upstream: Upstream,
    forwarded: { headers: string[]; requestId: string; outgoing?: ClientRequest },
    retried: boolean,
  ): void => {
    const started = performance.now();
    const body = hasBody(req);
    const outgoing: ClientRequest = request({
      hostname: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers: forwarded.headers,
      agent: upstream.agent,
      lookup,
    });
    forwarded.outgoing = outgoing;
    outgoing.setTimeout(timeoutMs, () => outgoing.destroy(new TierTimeout("timeout")));

    outgoing.on("response", (answer) => {
      // Once the answer flows, a pause is the client's backpressure (a slow
      // firmware download), not a silent tier.
      outgoing.setTimeout(0);
      res.writeHead(answer.statusCode ?? 502, endToEndHeaders(answer.rawHeaders));
      // pipe(), not pipeline(): pipeline makes an AbortController and a
      // DOMException per call, a third of this proxy's time per request.
      // A client that leaves is handled by the "close" listener below.
      answer.pipe(res);
      answer.on("error", (error) => res.destroy(error));
      if (logger.isLevelEnabled("debug")) {
        res.once("finish", () =>
          logger.debug(
            {
              request_id: forwarded.requestId,
              tier: upstream.tier,
              method: req.method,
              path: req.url,
              status: answer.statusCode,
              duration_ms: Math.round((performance.now() - started) * 10) / 10,
            },
            "proxied",
          ),
        );
      }
    });

    outgoing.on("error", (error: NodeJS.ErrnoException) => {
      if (res.headersSent) {
        // The answer had begun: all that can be said is that it is incomplete.
        res.destroy(error);
        return;
      }
      if (res.destroyed) return;
      const code = error.code ?? "";
      if (RETRYABLE.has(code)) lookup.forget(upstream.hostname);
      if (RETRYABLE.has(code) && !body && !retried) {
        forward(req, res, upstream, forwarded, true);
        return;
      }
      const timedOut = error instanceof TierTimeout;
      logger.warn(
        {
          request_id: forwarded.requestId,
          tier: upstream.tier,
          method: req.method,
          path: req.url,
          err: code || error.message,
        },
        timedOut ? "tier timed out" : "tier unreachable",
      );
      sendError(
        res,
        timedOut ? 504 : 502,
        timedOut
          ? `The ${upstream.tier} tier did not answer in time`
          : `The ${upstream.tier} tier is unavailable`,
        forwarded.requestId,
      );
    });

    if (body) {
      req.pipe(outgoing);
      req.once("error", (error) => outgoing.destroy(error));
    } else {
      outgoing.end();
    }
  };

  const server = createServer((req, res) => {
    const upstream = upstreams[tierFor(req.url ?? "/")];
    const forwarded: { headers: string[]; requestId: string; outgoing?: ClientRequest } =
      forwardRequestHeaders(req.rawHeaders, {
        address: req.socket.remoteAddress,
        encrypted: "encrypted" in req.socket && req.socket.encrypted === true,
      });
    // A client that leaves ends the request to the tier made on its behalf.
    res.on("close", () => {
      if (!res.writableFinished) forwarded.outgoing?.destroy();
    });
    forward(req, res, upstream, forwarded, false);
  });
  // Longer than the idle timeouts of the load balancers usually put in
  // front, so they never reuse a connection this side just closed.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.on("close", () => {
    upstreams.prepare.agent.destroy();
    upstreams.build.agent.destroy();
  });
  return server;
}
