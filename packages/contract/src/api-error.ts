/**
 * An answer the API gives on purpose. The body is sent as is, so each error
 * carries the contract's exact shape: `{detail, status}` for validation,
 * `{status, title, detail}` for 404/503/529.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly body: Record<string, unknown>;
  /** Headers the answer carries besides the body (`Retry-After`). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: number,
    body: Record<string, unknown>,
    headers: Readonly<Record<string, string>> = {},
  ) {
    super(typeof body.detail === "string" ? body.detail : `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

/** The contract's validation answer: `{"detail": "…", "status": 400}`. */
export function badRequest(detail: string): ApiError {
  return new ApiError(400, { detail, status: 400 });
}

export function problem(status: number, title: string, detail: string): ApiError {
  return new ApiError(status, { status, title, detail });
}
