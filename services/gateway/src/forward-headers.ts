import { randomUUID } from "node:crypto";

/** RFC 9110 §7.6.1: these describe one connection and are never passed on. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** The tiers keep an incoming id of this shape (packages/http request-context). */
const REQUEST_ID_PATTERN = /^[\w.:-]{1,128}$/;

/** Headers named in `Connection` are hop-by-hop too. */
function connectionTokens(rawHeaders: readonly string[]): Set<string> {
  const tokens = new Set<string>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]?.toLowerCase() !== "connection") continue;
    for (const token of (rawHeaders[i + 1] ?? "").split(",")) {
      const name = token.trim().toLowerCase();
      if (name) tokens.add(name);
    }
  }
  return tokens;
}

/** The end-to-end headers of a raw list, names and order as received, repeats kept. */
export function endToEndHeaders(rawHeaders: readonly string[]): string[] {
  const dropped = connectionTokens(rawHeaders);
  const kept: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || dropped.has(lower)) continue;
    kept.push(name, rawHeaders[i + 1] as string);
  }
  return kept;
}

export interface ForwardedRequest {
  /** Raw header list for the tier: the client's end-to-end headers plus X-Forwarded-*. */
  headers: string[];
  requestId: string;
}

/**
 * What the tier receives: the client's headers (Host included, so answers
 * name the public host), `X-Forwarded-For/-Proto/-Host` extended as a proxy
 * does, and an `X-Request-Id` the tier adopts, so gateway and tier log the
 * same id for one request.
 */
export function forwardRequestHeaders(
  rawHeaders: readonly string[],
  client: { address: string | undefined; encrypted: boolean },
): ForwardedRequest {
  const headers: string[] = [];
  let forwardedFor: string | undefined;
  let forwardedProto: string | undefined;
  let forwardedHost: string | undefined;
  let host: string | undefined;
  let requestId: string | undefined;
  const kept = endToEndHeaders(rawHeaders);
  for (let i = 0; i < kept.length; i += 2) {
    const name = kept[i] as string;
    const value = kept[i + 1] as string;
    switch (name.toLowerCase()) {
      case "x-forwarded-for":
        forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
        continue;
      case "x-forwarded-proto":
        forwardedProto ??= value;
        continue;
      case "x-forwarded-host":
        forwardedHost ??= value;
        continue;
      case "x-request-id":
        requestId ??= value;
        continue;
      case "host":
        host ??= value;
        break;
    }
    headers.push(name, value);
  }
  const sane = requestId !== undefined && REQUEST_ID_PATTERN.test(requestId);
  const id = sane ? (requestId as string) : randomUUID();
  const clientAddress = client.address ?? "unknown";
  headers.push(
    "X-Forwarded-For",
    forwardedFor === undefined ? clientAddress : `${forwardedFor}, ${clientAddress}`,
    "X-Forwarded-Proto",
    forwardedProto ?? (client.encrypted ? "https" : "http"),
    "X-Request-Id",
    id,
  );
  const shownHost = forwardedHost ?? host;
  if (shownHost !== undefined) headers.push("X-Forwarded-Host", shownHost);
  return { headers, requestId: id };
}
