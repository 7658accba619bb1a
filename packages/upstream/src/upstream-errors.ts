import { ApiError } from "@asu/contract";

/**
 * Raised when upstream metadata is needed, cannot be fetched and nothing is
 * cached to fall back on. Services answer it with a 503. The message is meant
 * to be shown to clients as `detail`, so it names the URL and a one-line cause
 * and never carries a stack trace; the original error stays on `cause`.
 */
export class UpstreamUnavailableError extends ApiError {
  override readonly name = "UpstreamUnavailableError";
  readonly url: string;
  readonly reason: string;

  constructor(url: string, reason: string, options?: { cause?: unknown }) {
    const detail = `Upstream metadata unavailable: ${url} (${reason})`;
    super(503, { status: 503, title: "Service Unavailable", detail });
    if (options?.cause !== undefined) this.cause = options.cause;
    this.url = url;
    this.reason = reason;
  }
}

/** A response that arrived but cannot be used (5xx, unexpected status, invalid JSON). */
export class UpstreamResponseError extends Error {
  override readonly name = "UpstreamResponseError";
}

const NETWORK_ERROR_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EPIPE: "connection reset",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "DNS lookup failed",
  EAI_FAIL: "DNS lookup failed",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ECONNABORTED: "connection aborted",
  UND_ERR_SOCKET: "connection closed by upstream",
  UND_ERR_CONNECT_TIMEOUT: "connection timed out",
  UND_ERR_HEADERS_TIMEOUT: "timed out waiting for headers",
  UND_ERR_BODY_TIMEOUT: "timed out reading the body",
  CERT_HAS_EXPIRED: "TLS certificate expired",
  DEPTH_ZERO_SELF_SIGNED_CERT: "TLS certificate not trusted",
  SELF_SIGNED_CERT_IN_CHAIN: "TLS certificate not trusted",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "TLS certificate not trusted",
  ERR_TLS_CERT_ALTNAME_INVALID: "TLS certificate does not match the host",
};

const MAX_REASON_LENGTH = 200;

/**
 * Turns whatever `fetch` or body reading threw into a short, single-line
 * reason. fetch wraps network failures as `TypeError: fetch failed` with the
 * useful code buried in `cause` (sometimes inside an AggregateError), so the
 * chain is searched for the first known code.
 */
export function describeFetchFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof UpstreamResponseError) return oneLine(error.message);
  if (isNamed(error, "TimeoutError")) return `timed out after ${timeoutMs} ms`;
  if (isNamed(error, "AbortError")) return "request aborted";
  const code = findErrorCode(error);
  if (code !== undefined) return NETWORK_ERROR_REASONS[code] ?? `network error (${code})`;
  const innermost = innermostMessage(error);
  return innermost === undefined ? "request failed" : oneLine(innermost);
}

function isNamed(error: unknown, name: string): boolean {
  return typeof error === "object" && error !== null && (error as { name?: unknown }).name === name;
}

function findErrorCode(error: unknown, depth = 0): string | undefined {
  if (typeof error !== "object" || error === null || depth > 5) return undefined;
  const { code, cause, errors } = error as { code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof code === "string" && code !== "") return code;
  const fromCause = findErrorCode(cause, depth + 1);
  if (fromCause !== undefined) return fromCause;
  if (Array.isArray(errors)) {
    for (const inner of errors) {
      const fromInner = findErrorCode(inner, depth + 1);
      if (fromInner !== undefined) return fromInner;
    }
  }
  return undefined;
}

function innermostMessage(error: unknown): string | undefined {
  let message: string | undefined;
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    const candidate = (current as { message?: unknown }).message;
    if (typeof candidate === "string" && candidate !== "") message = candidate;
    current = (current as { cause?: unknown }).cause;
  }
  return message;
}

function oneLine(text: string): string {
  const line = text.split(/\r?\n/, 1)[0]?.trim() ?? "";
  return line.length > MAX_REASON_LENGTH ? `${line.slice(0, MAX_REASON_LENGTH - 1)}…` : line;
}
