/** How to answer a `Range` header for a file of a given size (RFC 9110 §14). */
export type RangeAnswer =
  | { kind: "full" }
  | { kind: "partial"; start: number; end: number }
  | { kind: "unsatisfiable" };

const FULL: RangeAnswer = { kind: "full" };
const UNSATISFIABLE: RangeAnswer = { kind: "unsatisfiable" };
const RANGE_SPEC = /^(\d*)-(\d*)$/;

/** Undefined for an empty position, NaN for one too large to be exact. */
function toNumber(digits: string): number | undefined {
  if (digits === "") return undefined;
  const value = Number(digits);
  return Number.isSafeInteger(value) ? value : Number.NaN;
}

/**
 * One byte range (`bytes=0-99`, `bytes=100-`, `bytes=-100`), `end` inclusive
 * and clamped to the file. A header that is malformed, names another unit or
 * asks for several ranges is ignored (the whole file is sent), as RFC 9110
 * allows; a well-formed range that starts beyond the end is unsatisfiable.
 */
export function parseRange(header: string | undefined, size: number): RangeAnswer {
  if (header === undefined) return FULL;
  const equals = header.indexOf("=");
  if (equals === -1 || header.slice(0, equals).trim().toLowerCase() !== "bytes") return FULL;
  const specs = header.slice(equals + 1).split(",");
  if (specs.length !== 1) return FULL;
  const spec = RANGE_SPEC.exec((specs[0] ?? "").trim());
  if (!spec) return FULL;
  const first = toNumber(spec[1] ?? "");
  const last = toNumber(spec[2] ?? "");
  if (Number.isNaN(first) || Number.isNaN(last)) return FULL;

  if (first === undefined) {
    // `-n`: the last n bytes.
    if (last === undefined) return FULL;
    if (last === 0 || size === 0) return UNSATISFIABLE;
    return { kind: "partial", start: Math.max(0, size - last), end: size - 1 };
  }
  if (last !== undefined && last < first) return FULL;
  if (first >= size) return UNSATISFIABLE;
  return { kind: "partial", start: first, end: Math.min(last ?? size - 1, size - 1) };
}
