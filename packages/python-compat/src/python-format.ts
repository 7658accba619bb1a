/**
 * Python's text forms of plain values, character for character: `repr()` /
 * `str()` of containers and `json.dumps()` with its default options. The
 * request hash is computed over these texts, so any difference from CPython
 * changes the hash and breaks cache compatibility with the Python server.
 */

import { entriesInOrder } from "./ordered-json.ts";

export type PythonValue =
  | string
  | number
  | boolean
  | null
  | readonly PythonValue[]
  | { readonly [key: string]: PythonValue };

// CPython's str.isprintable() is false exactly for these general categories
// (the plain space excepted); repr() hex-escapes those characters.
const NON_PRINTABLE = /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]$/u;

const REPR_ESCAPES: Readonly<Record<string, string>> = {
  "\\": "\\\\",
  "\t": "\\t",
  "\n": "\\n",
  "\r": "\\r",
};

const JSON_ESCAPES: Readonly<Record<string, string>> = {
  "\\": "\\\\",
  '"': '\\"',
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
};

function hex(value: number, width: number): string {
  return value.toString(16).padStart(width, "0");
}

/**
 * Orders strings the way Python compares `str`: by code point. Code points are
 * read only from the first differing unit when it is a surrogate or above,
 * since an iterator per character was most of the request hash's cost.
 */
export function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x < 0xd800 && y < 0xd800) return x < y ? -1 : 1;
    return compareFromCodePoints(a, b);
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

function compareFromCodePoints(a: string, b: string): number {
  const left = a[Symbol.iterator]();
  const right = b[Symbol.iterator]();
  for (;;) {
    const x = left.next();
    const y = right.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const cx = x.value.codePointAt(0) ?? 0;
    const cy = y.value.codePointAt(0) ?? 0;
    if (cx !== cy) return cx < cy ? -1 : 1;
  }
}

function reprString(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  // Iterating by code point keeps astral characters whole and yields lone
  // surrogates on their own, as Python's str holds them.
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === quote) out += `\\${ch}`;
    else if (REPR_ESCAPES[ch] !== undefined) out += REPR_ESCAPES[ch];
    else if (code < 0x20 || code === 0x7f) out += `\\x${hex(code, 2)}`;
    else if (code < 0x7f || !NON_PRINTABLE.test(ch)) out += ch;
    else if (code <= 0xff) out += `\\x${hex(code, 2)}`;
    else if (code <= 0xffff) out += `\\u${hex(code, 4)}`;
    else out += `\\U${hex(code, 8)}`;
  }
  return out + quote;
}

function pythonInt(value: number): string {
  // Python prints floats differently (1.0, 1e+16); only ints occur in the hash.
  if (!Number.isSafeInteger(value)) throw new TypeError(`not a Python int: ${value}`);
  return String(value);
}

/** `repr(value)` as CPython prints it; also `str()` of a list or dict. */
export function pythonRepr(value: PythonValue): string {
  if (value === null) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "number") return pythonInt(value);
  if (typeof value === "string") return reprString(value);
  if (Array.isArray(value)) return `[${value.map(pythonRepr).join(", ")}]`;
  const entries = entriesInOrder(value as Record<string, PythonValue>);
  return `{${entries.map(([k, v]) => `${reprString(k)}: ${pythonRepr(v)}`).join(", ")}}`;
}

function jsonString(text: string): string {
  let out = '"';
  // By UTF-16 unit on purpose: ensure_ascii writes astral characters as
  // surrogate pairs, which is exactly the unit sequence.
  for (let i = 0; i < text.length; i++) {
    const ch = text.charAt(i);
    const code = text.charCodeAt(i);
    if (JSON_ESCAPES[ch] !== undefined) out += JSON_ESCAPES[ch];
    else if (code >= 0x20 && code <= 0x7e) out += ch;
    else out += `\\u${hex(code, 4)}`;
  }
  return `${out}"`;
}

export interface JsonDumpsOptions {
  sortKeys?: boolean;
}

/** `json.dumps(value, sort_keys=…)` with Python's defaults (ensure_ascii, `", "` and `": "`). */
export function pythonJsonDumps(value: PythonValue, options: JsonDumpsOptions = {}): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return pythonInt(value);
  if (typeof value === "string") return jsonString(value);
  if (Array.isArray(value)) {
    return `[${value.map((item) => pythonJsonDumps(item, options)).join(", ")}]`;
  }
  const entries = entriesInOrder(value as Record<string, PythonValue>);
  if (options.sortKeys) entries.sort(([a], [b]) => compareCodePoints(a, b));
  const body = entries.map(([k, v]) => `${jsonString(k)}: ${pythonJsonDumps(v, options)}`);
  return `{${body.join(", ")}}`;
}
