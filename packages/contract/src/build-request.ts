import { withKeyOrder } from "@asu/python-compat";
import { z } from "zod";
import {
  DICT_KEY_LOC,
  type PydanticError,
  patternMismatch,
  pydanticIssue,
  stringTooLong,
  withPatternText,
} from "./validation-errors.ts";

/** Server limits that shape the schema (MAX_CUSTOM_ROOTFS_SIZE_MB, MAX_DEFAULTS_LENGTH). */
export interface RequestLimits {
  max_custom_rootfs_size_mb: number;
  max_defaults_length: number;
}

export const DEFAULT_LIMITS: RequestLimits = {
  max_custom_rootfs_size_mb: 1024,
  max_defaults_length: 20480,
};

/**
 * Bounds on what one request may list. A build passes every package name in
 * one `PACKAGES=` argument, and Linux refuses a single argument over 128 KiB
 * ("argument list too long"): the two package lists stay well below that
 * together, leaving room for the `-x` removals of diff_packages.
 */
export const REQUEST_BOUNDS = {
  /** Entries of `packages`, and of `packages_versions`. */
  maxPackages: 1000,
  /** UTF-8 bytes of the names of one package list, a separator each. */
  maxPackageBytes: 32 * 1024,
  /** Entries of `repositories`, and of `repository_keys`. */
  maxRepositories: 64,
} as const;

function byteLength(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

// pydantic's wording for a container over max_length.
function tooLong(fieldType: "List" | "Dictionary", max: number, actual: number): PydanticError {
  return {
    type: "too_long",
    msg: `${fieldType} should have at most ${max} items after validation, not ${actual}`,
    ctx: { field_type: fieldType, max_length: max, actual_length: actual },
  };
}

function boundedCount(max: number, fieldType: "List" | "Dictionary") {
  return (value: unknown, ctx: z.RefinementCtx) => {
    if (typeof value !== "object" || value === null) return;
    const count = Array.isArray(value) ? value.length : Object.keys(value).length;
    if (count > max) ctx.addIssue(pydanticIssue(tooLong(fieldType, max, count)));
  };
}

function boundedNames(names: readonly unknown[], ctx: z.RefinementCtx) {
  // A UTF-16 unit is at most three UTF-8 bytes: ordinary lists are within
  // the bound without a Buffer.byteLength per name, which cost most of validation.
  let units = 0;
  for (const name of names) if (typeof name === "string") units += name.length + 1;
  if (units * 3 <= REQUEST_BOUNDS.maxPackageBytes) return;
  let bytes = 0;
  for (const name of names) if (typeof name === "string") bytes += byteLength(name) + 1;
  if (bytes > REQUEST_BOUNDS.maxPackageBytes) {
    ctx.addIssue(
      pydanticIssue({
        type: "value_error",
        msg: `Value error, package names add up to ${bytes} bytes, more than the ${REQUEST_BOUNDS.maxPackageBytes} a build can pass to the ImageBuilder`,
        ctx: { max_bytes: REQUEST_BOUNDS.maxPackageBytes, actual_bytes: bytes },
      }),
    );
  }
}

/** A field pattern: the text the Python server shows, and a regex that accepts what it accepts. */
export interface WirePattern {
  readonly python: string;
  readonly regex: RegExp;
}

// pydantic checks Field(pattern=…) with Rust's regex crate, not Python's re:
// its Unicode \w also takes marks, connector punctuation and ZWJ/ZWNJ, not
// No digits like "²", and its $ does not match before a trailing newline.
const WORD = String.raw`\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}`;
const NON_SPACE = String.raw`[^\p{White_Space}]`;

function wirePattern(python: string, source: string): WirePattern {
  return { python, regex: withPatternText(new RegExp(source, "u"), python) };
}

export const PATTERNS = {
  /** P: distro, version, version_code, profile, package names. */
  name: wirePattern(String.raw`^[\w.,-]*$`, String.raw`^[${WORD}.,\-]*$`),
  target: wirePattern(String.raw`^[\w]*/[\w]*$`, `^[${WORD}]*/[${WORD}]*$`),
  packageVersion: wirePattern(String.raw`^[\w+.,~-]*$`, String.raw`^[${WORD}+.,~\-]*$`),
  repositoryName: wirePattern(String.raw`^[\w.-]+$`, String.raw`^[${WORD}.\-]+$`),
  repositoryUrl: wirePattern(String.raw`^https?://\S+$`, `^https?://${NON_SPACE}+$`),
  /**
   * A package in `packages`: P after an optional leading "+" (an explicit
   * add; the hash and the resolution drop it). A mismatch shows P itself.
   */
  packageName: wirePattern(String.raw`^[\w.,-]*$`, String.raw`^\+?[${WORD}.,\-]*$`),
} as const;

export const FILESYSTEMS = [
  "squashfs",
  "ext4",
  "ubifs",
  "erofs",
  "jffs2",
  "jffs2-nand",
  "targz",
  "cpiogz",
] as const;
export type Filesystem = (typeof FILESYSTEMS)[number];

export const REPOSITORIES_MODES = ["append", "replace"] as const;
export type RepositoriesMode = (typeof REPOSITORIES_MODES)[number];

function patternError(pattern: WirePattern, input?: string): PydanticError {
  const error = patternMismatch(pattern.python);
  if (input !== undefined) error.input = input;
  return error;
}

/** A string checked against `pattern` by zod itself, its failure worded as pydantic's (withPatternText). */
function patterned(pattern: WirePattern) {
  return z.string().regex(pattern.regex).meta({ pattern: pattern.python });
}

// pydantic's lax mode, as FastAPI runs it on the parsed JSON body.
const TRUE_WORDS = new Set(["1", "on", "t", "true", "y", "yes"]);
const FALSE_WORDS = new Set(["0", "off", "f", "false", "n", "no"]);

const BOOL_PARSING: PydanticError = {
  type: "bool_parsing",
  msg: "Input should be a valid boolean, unable to interpret input",
};
const BOOL_TYPE: PydanticError = { type: "bool_type", msg: "Input should be a valid boolean" };

function laxBoolean(value: unknown, ctx: z.RefinementCtx): unknown {
  if (typeof value === "boolean") return value;
  if (typeof value === "string") {
    const word = value.toLowerCase();
    if (TRUE_WORDS.has(word)) return true;
    if (FALSE_WORDS.has(word)) return false;
    ctx.addIssue(pydanticIssue(BOOL_PARSING));
    return value;
  }
  if (value === 1 || value === 0) return value === 1;
  ctx.addIssue(pydanticIssue(Number.isInteger(value) ? BOOL_PARSING : BOOL_TYPE));
  return value;
}

// pydantic trims Unicode White_Space, takes "_" between digits and a ".0…" tail.
const INT_TEXT = /^[+-]?\d+(?:_\d+)*(?:\.0+)?$/;
const EDGE_SPACE = /^\p{White_Space}+|\p{White_Space}+$/gu;

function laxInteger(value: unknown, ctx: z.RefinementCtx): unknown {
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "number") {
    if (Number.isInteger(value)) return value;
    ctx.addIssue(
      pydanticIssue({
        type: "int_from_float",
        msg: "Input should be a valid integer, got a number with a fractional part",
      }),
    );
    return value;
  }
  if (typeof value === "string") {
    const text = value.replace(EDGE_SPACE, "");
    if (INT_TEXT.test(text)) return Number(text.replaceAll("_", "").replace(/\.0+$/, ""));
    ctx.addIssue(
      pydanticIssue({
        type: "int_parsing",
        msg: "Input should be a valid integer, unable to parse string as an integer",
      }),
    );
    return value;
  }
  ctx.addIssue(pydanticIssue({ type: "int_type", msg: "Input should be a valid integer" }));
  return value;
}

function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

function boundedText(maxLength: number) {
  return z
    .string()
    .superRefine((value, ctx) => {
      // pydantic counts characters (code points), not UTF-16 units as zod's max() does
      if (codePoints(value) > maxLength) {
        ctx.addIssue(pydanticIssue(stringTooLong(maxLength)));
      }
    })
    .meta({ maxLength });
}

// Checked ahead of zod's record so that, like pydantic, a bad key and a bad
// value of the same entry are both reported, key first.
function dictOf(key: WirePattern, value: WirePattern, maxEntries: number) {
  const checkEntries = (input: unknown, ctx: z.RefinementCtx) => {
    if (typeof input !== "object" || input === null || Array.isArray(input)) return input;
    const count = Object.keys(input).length;
    if (count > maxEntries) {
      // Too many entries: one error, not one per entry.
      ctx.addIssue(pydanticIssue(tooLong("Dictionary", maxEntries, count)));
      return {};
    }
    if (maxEntries === REQUEST_BOUNDS.maxPackages) boundedNames(Object.keys(input), ctx);
    for (const [name, item] of Object.entries(input)) {
      if (!key.regex.test(name)) {
        ctx.addIssue(pydanticIssue(patternError(key, name), [name, DICT_KEY_LOC]));
      }
      if (typeof item !== "string") {
        ctx.addIssue(
          pydanticIssue({ type: "string_type", msg: "Input should be a valid string" }, [name]),
        );
      } else if (!value.regex.test(item)) {
        ctx.addIssue(pydanticIssue(patternError(value), [name]));
      }
    }
    return input;
  };
  return z.preprocess(
    checkEntries,
    z.record(z.string().meta({ pattern: key.python }), z.string().meta({ pattern: value.python })),
  );
}

/** `packages`: bounded names, one error for a list over the bound rather than one per name. */
function packagesField() {
  return z
    .preprocess(
      (input, ctx) => {
        if (!Array.isArray(input)) return input;
        if (input.length > REQUEST_BOUNDS.maxPackages) {
          boundedCount(REQUEST_BOUNDS.maxPackages, "List")(input, ctx);
          // One error for the list, not one per name.
          return [];
        }
        boundedNames(input, ctx);
        return input;
      },
      z
        .array(
          z.string().regex(PATTERNS.packageName.regex).meta({ pattern: String.raw`^\+?[\w.,-]*$` }),
        )
        .meta({ maxItems: REQUEST_BOUNDS.maxPackages }),
    )
    .default([])
    .describe(
      "Packages to install, in order; additional to the defaults unless `diff_packages`. A leading `+` is ignored.",
    );
}

/** The BuildRequest body; unknown fields are dropped, `profile` comes out with `,` → `_`. */
export function buildRequestSchema(limits: RequestLimits) {
  return z.object({
    distro: patterned(PATTERNS.name)
      .default("openwrt")
      .describe("Distribution; only `openwrt` is supported."),
    version: patterned(PATTERNS.name).describe(
      "Release to build, e.g. `23.05.4`, `24.10.0-rc6`, `SNAPSHOT` or `23.05-SNAPSHOT`.",
    ),
    version_code: patterned(PATTERNS.name)
      .default("")
      .describe(
        "Expected ImageBuilder revision such as `r24012-d8dd03c46f`; the build fails if it differs.",
      ),
    target: patterned(PATTERNS.target).describe("Target and subtarget, e.g. `ath79/generic`."),
    profile: patterned(PATTERNS.name)
      .transform((profile) => profile.replaceAll(",", "_"))
      .describe("ImageBuilder profile or board name (`tplink,archer-a7-v5`); `,` is read as `_`."),
    packages: packagesField(),
    packages_versions: dictOf(PATTERNS.name, PATTERNS.packageVersion, REQUEST_BOUNDS.maxPackages)
      .default({})
      .describe(
        "Package name → version; when not empty its names replace `packages` and the build must install exactly these versions.",
      ),
    diff_packages: z
      .preprocess(laxBoolean, z.boolean())
      .default(false)
      .describe(
        "If true, `packages` is the absolute list: every default package not listed is removed.",
      ),
    defaults: boundedText(limits.max_defaults_length)
      .nullable()
      .default(null)
      .describe(
        `First-boot shell script (uci-defaults), at most ${limits.max_defaults_length} characters; refused unless the server allows it.`,
      ),
    rootfs_size_mb: z
      .preprocess(
        laxInteger,
        z.number().min(1).max(limits.max_custom_rootfs_size_mb).meta({ type: "integer" }),
      )
      .nullable()
      .default(null)
      .describe(
        `Custom root filesystem partition size in MB (1 to ${limits.max_custom_rootfs_size_mb}).`,
      ),
    filesystem: z
      .enum(FILESYSTEMS)
      .nullable()
      .default(null)
      .describe("Build only this root filesystem type."),
    repositories: dictOf(
      PATTERNS.repositoryName,
      PATTERNS.repositoryUrl,
      REQUEST_BOUNDS.maxRepositories,
    )
      .default({})
      .describe("Extra package feeds: name → URL; every URL must pass the server's allow list."),
    repositories_mode: z
      .enum(REPOSITORIES_MODES)
      .default("replace")
      .describe("`append` keeps the ImageBuilder's feeds, `replace` uses only `repositories`."),
    repository_keys: z
      .array(z.string())
      .superRefine(boundedCount(REQUEST_BOUNDS.maxRepositories, "List"))
      .meta({ maxItems: REQUEST_BOUNDS.maxRepositories })
      .default([])
      .describe("Signing keys of the extra feeds: usign public keys or PEM keys."),
    client: z
      .string()
      .nullable()
      .default(null)
      .describe("Client name and version, e.g. `luci/git-22.073.39928-701ea94`."),
  });
}

/** The prepare tier's body: a BuildRequest plus the version the device runs now. */
export function prepareRequestSchema(limits: RequestLimits) {
  return buildRequestSchema(limits).extend({
    from_version: patterned(PATTERNS.name)
      .nullable()
      .default(null)
      .describe("Version installed on the device; enables the package migrations since then."),
  });
}

type ClientDicts = Pick<BuildRequest, "repositories" | "packages_versions">;

/**
 * The schema's output with `repositories` and `packages_versions` exactly as
 * the client sent them: every key (zod's records drop `__proto__`), in the
 * client's order (the hash and the repository file follow it). The schema
 * has validated every entry; `body` is the parsed JSON it checked.
 */
export function withClientDicts<T extends ClientDicts>(parsed: T, body: unknown): T {
  const raw = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const restore = (field: keyof ClientDicts): Record<string, string> => {
    const sent = Object.hasOwn(raw, field) ? raw[field] : undefined;
    if (typeof sent !== "object" || sent === null || Array.isArray(sent)) return parsed[field];
    return withKeyOrder(sent as Record<string, string>);
  };
  return {
    ...parsed,
    repositories: restore("repositories"),
    packages_versions: restore("packages_versions"),
  };
}

export type BuildRequest = z.output<ReturnType<typeof buildRequestSchema>>;
export type BuildRequestInput = z.input<ReturnType<typeof buildRequestSchema>>;
export type PrepareRequest = z.output<ReturnType<typeof prepareRequestSchema>>;
export type PrepareRequestInput = z.input<ReturnType<typeof prepareRequestSchema>>;
