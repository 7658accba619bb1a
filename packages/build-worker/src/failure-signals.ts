import { classifyFailure, type FailureClass, type FailureSignals } from "@asu/contract";
import { storeProblemOf } from "@asu/store";
import { BuildFailure, FAILURE_DETAILS } from "./build-failure.ts";

/**
 * The structured signals an error carries: Node's errno (`code`), the
 * container API's HTTP status (dockerode's `statusCode`) and the error's class.
 */
export function errorSignals(error: unknown): FailureSignals {
  if (typeof error !== "object" || error === null) return {};
  const { code, statusCode, name } = error as {
    code?: unknown;
    statusCode?: unknown;
    name?: unknown;
  };
  const signals: FailureSignals = {};
  if (typeof code === "string") signals.errno = code;
  if (typeof statusCode === "number") signals.apiStatus = statusCode;
  if (typeof name === "string" && name !== "Error") signals.errorClass = name;
  return signals;
}

export interface ClassifiedFailure {
  failure: BuildFailure;
  verdict: FailureClass;
}

/**
 * The failure a client reads and whose fault it is. A step's own verdict
 * keeps its detail and signals; the time limit and any exception of ours
 * get the contract's texts.
 */
export function classifyBuildError(
  error: unknown,
  context: { timedOutAfter?: number; containerFate?: FailureSignals },
): ClassifiedFailure {
  let failure: BuildFailure;
  if (context.timedOutAfter !== undefined) {
    failure = new BuildFailure(FAILURE_DETAILS.timeout(context.timedOutAfter), "", "", {
      timedOut: true,
    });
  } else if (error instanceof BuildFailure) {
    failure = error;
  } else if (storeProblemOf(error)) {
    // A full or read-only store (staging sits beside it) is ours to fix, and says so.
    const problem = storeProblemOf(error);
    failure = new BuildFailure(FAILURE_DETAILS.store(problem?.detail ?? ""), "", "", {
      ...errorSignals(error),
    });
  } else {
    failure = new BuildFailure(FAILURE_DETAILS.internal, "", "", {
      ...errorSignals(error),
      unexpected: true,
    });
  }
  const signals = { ...failure.signals, ...context.containerFate };
  return { failure, verdict: classifyFailure(signals) };
}
