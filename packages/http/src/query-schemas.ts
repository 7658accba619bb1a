import { pydanticIssue } from "@asu/contract";
import { z } from "@hono/zod-openapi";

const TRUE_WORDS = new Set(["true", "1", "yes", "on", "t", "y"]);
const FALSE_WORDS = new Set(["false", "0", "no", "off", "f", "n"]);

/** An optional query flag read as FastAPI reads a bool, with pydantic's 422 for anything else. */
export function queryBoolean() {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined) return false;
      const word = raw.toLowerCase();
      if (TRUE_WORDS.has(word)) return true;
      if (FALSE_WORDS.has(word)) return false;
      ctx.addIssue(
        pydanticIssue({
          type: "bool_parsing",
          msg: "Input should be a valid boolean, unable to interpret input",
          input: raw,
        }),
      );
      return z.NEVER;
    })
    .openapi({ type: "boolean" });
}

/**
 * An optional positive query integer read as FastAPI reads one (`ge=1`),
 * with pydantic's 422s; empty or absent is undefined.
 */
export function queryPositiveInteger() {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === "") return undefined;
      if (!/^\s*[+-]?\d+\s*$/.test(raw)) {
        ctx.addIssue(
          pydanticIssue({
            type: "int_parsing",
            msg: "Input should be a valid integer, unable to parse string as an integer",
            input: raw,
          }),
        );
        return z.NEVER;
      }
      const value = Number(raw);
      if (value < 1) {
        ctx.addIssue(
          pydanticIssue({
            type: "greater_than_equal",
            msg: "Input should be greater than or equal to 1",
            input: raw,
            ctx: { ge: 1 },
          }),
        );
        return z.NEVER;
      }
      return value;
    })
    .openapi({ type: "integer", minimum: 1 });
}
