import { pythonRepr } from "@asu/python-compat";
import type { z } from "zod";

/**
 * Schema failures in the shape FastAPI answers with 422, worded as pydantic v2
 * words them: clients show `detail[].msg` and some match on it.
 */
export interface FastApiError {
  type: string;
  loc: (string | number)[];
  msg: string;
  input: unknown;
  ctx?: Record<string, unknown>;
}

export interface FastApiErrorBody {
  detail: FastApiError[];
}

/** A pydantic error that a schema check raises itself, carried in a zod custom issue. */
export interface PydanticError {
  type: string;
  msg: string;
  ctx?: Record<string, unknown>;
  /** What pydantic reports as `input` when it is not simply the value at the issue's path. */
  input?: unknown;
}

type Path = readonly PropertyKey[];

// pydantic marks a failing dict key by appending this to the key's loc.
export const DICT_KEY_LOC = "[key]";

const PARAMS_KEY = "pydantic";

/**
 * The argument for zod's `ctx.addIssue` that makes `toFastApiErrors` answer
 * exactly `error`; `path` is relative to the checked value.
 */
export function pydanticIssue(error: PydanticError, path: Path = []) {
  return {
    code: "custom" as const,
    message: error.msg,
    input: error.input,
    path: [...path],
    params: { [PARAMS_KEY]: error },
  };
}

export const MISSING_MSG = "Field required";

/** FastAPI's answer when the request has no body (or a JSON `null`). */
export function missingBodyError(): FastApiErrorBody {
  return { detail: [{ type: "missing", loc: ["body"], msg: MISSING_MSG, input: null }] };
}

// pydantic's error for each JSON type a field may expect, keyed by zod's `expected`.
const TYPE_ERRORS: Readonly<Record<string, { type: string; msg: string }>> = {
  string: { type: "string_type", msg: "Input should be a valid string" },
  array: { type: "list_type", msg: "Input should be a valid list" },
  record: { type: "dict_type", msg: "Input should be a valid dictionary" },
  object: { type: "dict_type", msg: "Input should be a valid dictionary" },
  boolean: { type: "bool_type", msg: "Input should be a valid boolean" },
  int: { type: "int_type", msg: "Input should be a valid integer" },
  number: { type: "int_type", msg: "Input should be a valid integer" },
};

const MODEL_TYPE_ERROR = {
  type: "model_attributes_type",
  msg: "Input should be a valid dictionary or object to extract fields from",
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function valueAt(root: unknown, path: Path): unknown {
  let value = root;
  for (const key of path) {
    if (!isRecord(value) && !Array.isArray(value)) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function isMissing(root: unknown, path: Path): boolean {
  if (path.length === 0) return root === undefined;
  const parent = valueAt(root, path.slice(0, -1));
  return isRecord(parent) && !Object.hasOwn(parent, path[path.length - 1] as PropertyKey);
}

/** pydantic's "'a', 'b' or 'c'" for the allowed values of a Literal. */
export function expectedLiteral(values: readonly unknown[]): string {
  const shown = values.map((value) => pythonRepr(value as string | number | boolean | null));
  if (shown.length <= 1) return shown.join("");
  return `${shown.slice(0, -1).join(", ")} or ${shown[shown.length - 1]}`;
}

function characters(count: number): string {
  return `${count} character${count === 1 ? "" : "s"}`;
}

/** pydantic's error for a string longer than `maxLength` characters. */
export function stringTooLong(maxLength: number): PydanticError {
  return {
    type: "string_too_long",
    msg: `String should have at most ${characters(maxLength)}`,
    ctx: { max_length: maxLength },
  };
}

/** pydantic's error for a string that does not match `pattern` (its Python text). */
export function patternMismatch(pattern: string): PydanticError {
  return {
    type: "string_pattern_mismatch",
    msg: `String should match pattern '${pattern}'`,
    ctx: { pattern },
  };
}

// The Python text of each regex that schemas check with zod's own `regex`, by the regex's text.
const PATTERN_TEXTS = new Map<string, string>();

/**
 * Gives `regex` the Python text pydantic shows when a string fails it, so
 * zod's own inline regex check answers pydantic's string_pattern_mismatch: a
 * refinement per package name cost most of a prepare body's validation.
 */
export function withPatternText(regex: RegExp, python: string): RegExp {
  PATTERN_TEXTS.set(String(regex), python);
  return regex;
}

type Mapped = Omit<FastApiError, "loc" | "input"> & { input?: unknown };

function mapIssue(issue: z.core.$ZodIssue, body: unknown, path: Path): Mapped {
  switch (issue.code) {
    case "custom": {
      const error = (issue.params as Record<string, PydanticError> | undefined)?.[PARAMS_KEY];
      if (error) return error;
      break;
    }
    case "invalid_type": {
      if (isMissing(body, path)) {
        return { type: "missing", msg: MISSING_MSG, input: valueAt(body, path.slice(0, -1)) };
      }
      if (path.length === 0 && issue.expected === "object") return MODEL_TYPE_ERROR;
      const known = TYPE_ERRORS[issue.expected];
      if (known) return known;
      break;
    }
    case "too_small":
      if (issue.origin === "number") {
        const bound = Number(issue.minimum);
        return issue.inclusive
          ? {
              type: "greater_than_equal",
              msg: `Input should be greater than or equal to ${bound}`,
              ctx: { ge: bound },
            }
          : {
              type: "greater_than",
              msg: `Input should be greater than ${bound}`,
              ctx: { gt: bound },
            };
      }
      if (issue.origin === "string") {
        const bound = Number(issue.minimum);
        return {
          type: "string_too_short",
          msg: `String should have at least ${characters(bound)}`,
          ctx: { min_length: bound },
        };
      }
      break;
    case "too_big":
      if (issue.origin === "number") {
        const bound = Number(issue.maximum);
        return issue.inclusive
          ? {
              type: "less_than_equal",
              msg: `Input should be less than or equal to ${bound}`,
              ctx: { le: bound },
            }
          : { type: "less_than", msg: `Input should be less than ${bound}`, ctx: { lt: bound } };
      }
      if (issue.origin === "string") return stringTooLong(Number(issue.maximum));
      break;
    case "invalid_format": {
      const python = issue.format === "regex" ? PATTERN_TEXTS.get(issue.pattern ?? "") : undefined;
      if (python !== undefined) return patternMismatch(python);
      break;
    }
    case "invalid_value": {
      const expected = expectedLiteral(issue.values);
      return { type: "literal_error", msg: `Input should be ${expected}`, ctx: { expected } };
    }
  }
  return { type: "value_error", msg: issue.message };
}

/** Where FastAPI says a failing value was: the first element of `loc`. */
export type RequestPart = "body" | "query" | "path" | "header" | "cookie";

function collect(
  issue: z.core.$ZodIssue,
  body: unknown,
  part: RequestPart,
  out: FastApiError[],
): void {
  const path = issue.path;
  if (issue.code === "invalid_key") {
    // zod nests a record key's failures; pydantic lists each at the key's loc plus "[key]".
    const key = path[path.length - 1];
    for (const inner of issue.issues) {
      const mapped = mapIssue(inner, undefined, []);
      out.push(toError(mapped, part, [...path, DICT_KEY_LOC], key));
    }
    return;
  }
  const mapped = mapIssue(issue, body, path);
  out.push(toError(mapped, part, path, "input" in mapped ? mapped.input : valueAt(body, path)));
}

function toError(mapped: Mapped, part: RequestPart, path: Path, input: unknown): FastApiError {
  const error: FastApiError = {
    type: mapped.type,
    loc: [part, ...path.map((key) => (typeof key === "number" ? key : String(key)))],
    msg: mapped.msg,
    input,
  };
  if (mapped.ctx) error.ctx = mapped.ctx;
  return error;
}

/**
 * FastAPI's 422 body for a failed parse of `value`: the request's parsed JSON
 * body, or the query, path or header values when `part` says so.
 */
export function toFastApiErrors(
  error: z.ZodError,
  value: unknown,
  part: RequestPart = "body",
): FastApiErrorBody {
  if (part === "body" && (value === undefined || value === null)) return missingBodyError();
  const detail: FastApiError[] = [];
  for (const issue of error.issues) collect(issue, value, part, detail);
  return { detail };
}
