import { ApiError } from "@asu/contract";

/** The contract's 529: the queue holds MAX_PENDING_JOBS builds already. */
export function serverOverloaded(waiting: number): ApiError {
  return new ApiError(529, {
    status: 529,
    title: "Server overloaded",
    detail: `server overload, queue contains too many build requests: ${waiting}`,
  });
}

/** 429 for a client with its share of the queue waiting; `Retry-After` says when to try again. */
export function overItsShare(waiting: number, max: number, retryAfter: number): ApiError {
  return new ApiError(
    429,
    {
      status: 429,
      title: "Too Many Requests",
      detail: `too many builds of this client waiting: ${waiting} (at most ${max}); retry when some have started`,
    },
    { "Retry-After": String(retryAfter) },
  );
}
