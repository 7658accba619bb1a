import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { buildRequestSchema, DEFAULT_LIMITS, prepareRequestSchema } from "./build-request.ts";
import {
  expectedLiteral,
  type FastApiError,
  missingBodyError,
  pydanticIssue,
  toFastApiErrors,
} from "./validation-errors.ts";

interface Fixture {
  invalid: { body: unknown; detail: FastApiError[] }[];
}

// Each body with the exact `detail` that pydantic gave; see "source" in the file.
const fixture: Fixture = JSON.parse(
  readFileSync(new URL("./fixtures/build-request-pydantic.json", import.meta.url), "utf8"),
);

const schema = buildRequestSchema(DEFAULT_LIMITS);

function errorsFor(body: unknown, target: z.ZodType = schema) {
  const result = target.safeParse(body);
  if (result.success) throw new Error(`accepted: ${JSON.stringify(body)}`);
  return toFastApiErrors(result.error, body);
}

const base = { version: "1.2.3", target: "testtarget/testsubtarget", profile: "testprofile" };

describe("toFastApiErrors: the same 422 body as the Python server", () => {
  it.each(fixture.invalid.map((c) => [c.body, c.detail] as const))(
    "answers %j like pydantic",
    (body, detail) => {
      expect(errorsFor(body)).toStrictEqual({ detail });
    },
  );

  it("answers the Python server's own test cases", () => {
    expect(errorsFor({ ...base, packages: "testpackage" })).toStrictEqual({
      detail: [
        {
          input: "testpackage",
          loc: ["body", "packages"],
          msg: "Input should be a valid list",
          type: "list_type",
        },
      ],
    });
    expect(errorsFor({ version: "1.2.3", profile: "testprofile" })).toStrictEqual({
      detail: [
        {
          type: "missing",
          loc: ["body", "target"],
          msg: "Field required",
          input: { version: "1.2.3", profile: "testprofile" },
        },
      ],
    });
    const first = (body: unknown) => errorsFor(body).detail[0]?.msg;
    expect(first({ ...base, rootfs_size_mb: 0 })).toBe(
      "Input should be greater than or equal to 1",
    );
    expect(first({ ...base, rootfs_size_mb: 1025 })).toBe(
      "Input should be less than or equal to 1024",
    );
    expect(first({ ...base, defaults: "#".repeat(20481) })).toBe(
      "String should have at most 20480 characters",
    );
  });

  it("answers a missing or null body with loc ['body'] and input null", () => {
    const expected = {
      detail: [{ type: "missing", loc: ["body"], msg: "Field required", input: null }],
    };
    expect(missingBodyError()).toStrictEqual(expected);
    expect(errorsFor(null)).toStrictEqual(expected);
    expect(errorsFor(undefined)).toStrictEqual(expected);
  });

  it("reports too long defaults with the whole text as input", () => {
    const defaults = "é".repeat(20481);
    expect(errorsFor({ ...base, defaults })).toStrictEqual({
      detail: [
        {
          type: "string_too_long",
          loc: ["body", "defaults"],
          msg: "String should have at most 20480 characters",
          input: defaults,
          ctx: { max_length: 20480 },
        },
      ],
    });
  });

  it("uses the configured limits in messages and ctx", () => {
    const small = buildRequestSchema({ max_custom_rootfs_size_mb: 64, max_defaults_length: 1 });
    expect(errorsFor({ ...base, rootfs_size_mb: 65, defaults: "ab" }, small)).toStrictEqual({
      detail: [
        {
          type: "string_too_long",
          loc: ["body", "defaults"],
          msg: "String should have at most 1 character",
          input: "ab",
          ctx: { max_length: 1 },
        },
        {
          type: "less_than_equal",
          loc: ["body", "rootfs_size_mb"],
          msg: "Input should be less than or equal to 64",
          input: 65,
          ctx: { le: 64 },
        },
      ],
    });
  });

  it("reports a bad package behind a leading + against P", () => {
    expect(errorsFor({ ...base, packages: ["+luci", "+lu ci"] })).toStrictEqual({
      detail: [
        {
          type: "string_pattern_mismatch",
          loc: ["body", "packages", 1],
          msg: "String should match pattern '^[\\w.,-]*$'",
          input: "+lu ci",
          ctx: { pattern: "^[\\w.,-]*$" },
        },
      ],
    });
  });

  it("reports from_version of the prepare body", () => {
    const prepare = prepareRequestSchema(DEFAULT_LIMITS);
    expect(errorsFor({ ...base, from_version: 23.05 }, prepare)).toStrictEqual({
      detail: [
        {
          type: "string_type",
          loc: ["body", "from_version"],
          msg: "Input should be a valid string",
          input: 23.05,
        },
      ],
    });
  });
});

describe("toFastApiErrors for other zod checks", () => {
  it("words string length and exclusive bounds as pydantic does", () => {
    const s = z.object({
      name: z.string().min(2).max(3),
      one: z.string().min(1),
      gt: z.number().gt(1),
      lt: z.number().lt(5),
    });
    expect(errorsFor({ name: "a", one: "", gt: 1, lt: 5 }, s).detail).toStrictEqual([
      {
        type: "string_too_short",
        loc: ["body", "name"],
        msg: "String should have at least 2 characters",
        input: "a",
        ctx: { min_length: 2 },
      },
      {
        type: "string_too_short",
        loc: ["body", "one"],
        msg: "String should have at least 1 character",
        input: "",
        ctx: { min_length: 1 },
      },
      {
        type: "greater_than",
        loc: ["body", "gt"],
        msg: "Input should be greater than 1",
        input: 1,
        ctx: { gt: 1 },
      },
      {
        type: "less_than",
        loc: ["body", "lt"],
        msg: "Input should be less than 5",
        input: 5,
        ctx: { lt: 5 },
      },
    ]);
    expect(errorsFor({ name: "abcd", one: "x", gt: 2, lt: 4 }, s).detail[0]).toStrictEqual({
      type: "string_too_long",
      loc: ["body", "name"],
      msg: "String should have at most 3 characters",
      input: "abcd",
      ctx: { max_length: 3 },
    });
  });

  it("passes a pydantic error raised by a check through unchanged", () => {
    const s = z.object({
      x: z.string().superRefine((_value, ctx) => {
        ctx.addIssue(pydanticIssue({ type: "value_error", msg: "Value error, no", ctx: { a: 1 } }));
        ctx.addIssue(
          pydanticIssue({ type: "custom_kind", msg: "deep", input: "other" }, ["sub", 2]),
        );
      }),
    });
    expect(errorsFor({ x: "v" }, s).detail).toStrictEqual([
      {
        type: "value_error",
        loc: ["body", "x"],
        msg: "Value error, no",
        input: "v",
        ctx: { a: 1 },
      },
      { type: "custom_kind", loc: ["body", "x", "sub", 2], msg: "deep", input: "other" },
    ]);
  });

  it("falls back to a value_error with zod's message", () => {
    const s = z.object({ x: z.string().refine(() => false, "not this") });
    expect(errorsFor({ x: "v" }, s).detail).toStrictEqual([
      { type: "value_error", loc: ["body", "x"], msg: "not this", input: "v" },
    ]);
  });
});

describe("expectedLiteral", () => {
  it("joins Python reprs with commas and a final 'or'", () => {
    expect(expectedLiteral(["a"])).toBe("'a'");
    expect(expectedLiteral(["append", "replace"])).toBe("'append' or 'replace'");
    expect(expectedLiteral(["a", "b", "c"])).toBe("'a', 'b' or 'c'");
    expect(expectedLiteral(["it's", 1])).toBe(`"it's" or 1`);
  });
});
