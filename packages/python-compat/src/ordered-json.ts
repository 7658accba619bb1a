/**
 * JSON as a Python client's dict keeps it: keys in the order sent (the request
 * hash follows it; `JSON.parse` moves integer-like keys first), no prototypes,
 * and a depth limit instead of a stack overflow later.
 */

/** The keys of a parsed object in the order they were sent. */
export const KEY_ORDER: unique symbol = Symbol("asu.keyOrder");

export type OrderedRecord<T = unknown> = Record<string, T> & { [KEY_ORDER]?: readonly string[] };

/** Deep enough for any request; deeper is refused rather than walked. */
export const MAX_JSON_DEPTH = 32;

export class JsonSyntaxError extends Error {
  readonly position: number;
  constructor(message: string, position: number) {
    super(`${message} at position ${position}`);
    this.position = position;
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const WHITESPACE = /[ \t\n\r]*/y;

/** A key JSON.parse and Object.keys put first (an array index), out of the order sent. */
const INDEX_KEY = /^(?:0|[1-9]\d*)$/;

/** Gives up on a value the fast path cannot copy faithfully. */
const NOT_COPIED = Symbol("not copied");

/**
 * What `parseText` would build from JSON.parse's `value`, or NOT_COPIED when
 * JSON.parse's value may differ from it: an index-like key (moved to the
 * front) or nesting past the limit (refused, with the parser's message).
 * Objects JSON.parse builds keep their keys in the order sent otherwise,
 * a repeated key in its first place with its last value, as parseText does.
 */
function copyOrdered(value: unknown, depth: number, maxDepth: number): unknown {
  if (value === null || typeof value !== "object") return value;
  if (depth >= maxDepth) return NOT_COPIED;
  if (Array.isArray(value)) {
    const items: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) {
      const item = copyOrdered(value[i], depth + 1, maxDepth);
      if (item === NOT_COPIED) return NOT_COPIED;
      items[i] = item;
    }
    return items;
  }
  const order = Object.keys(value);
  const object: OrderedRecord = Object.create(null);
  for (const key of order) {
    if (INDEX_KEY.test(key)) return NOT_COPIED;
    const item = copyOrdered((value as Record<string, unknown>)[key], depth + 1, maxDepth);
    if (item === NOT_COPIED) return NOT_COPIED;
    object[key] = item;
  }
  Object.defineProperty(object, KEY_ORDER, { value: order, enumerable: false });
  return object;
}

/** Parses `text` as JSON.parse does, with ordered prototype-free objects and a depth limit. */
export function parseOrderedJson(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  // The native parser is several times faster; its result is copied when
  // that copy is what the parser below would build, which for request
  // bodies is nearly always. Otherwise, and for every error, the parser
  // below decides.
  let native: unknown;
  try {
    native = JSON.parse(text);
  } catch {
    return parseText(text, maxDepth);
  }
  const copied = copyOrdered(native, 0, maxDepth);
  return copied === NOT_COPIED ? parseText(text, maxDepth) : copied;
}

/**
 * Where parseText is in its text: one per call, handed to each step, so a
 * parse creates no closures.
 */
interface Cursor {
  readonly text: string;
  readonly maxDepth: number;
  at: number;
}

function parseText(text: string, maxDepth: number): unknown {
  const cursor: Cursor = { text, maxDepth, at: 0 };
  const value = parseValue(cursor, 0);
  skipSpace(cursor);
  if (cursor.at < text.length) fail(cursor, "Unexpected non-whitespace character after JSON");
  return value;
}

function skipSpace(cursor: Cursor): void {
  WHITESPACE.lastIndex = cursor.at;
  WHITESPACE.exec(cursor.text);
  cursor.at = WHITESPACE.lastIndex;
}

function fail(cursor: Cursor, message: string): never {
  throw new JsonSyntaxError(message, cursor.at);
}

function expectChar(cursor: Cursor, char: string): void {
  if (cursor.text[cursor.at] !== char)
    fail(
      cursor,
      cursor.at >= cursor.text.length ? "Unexpected end of JSON input" : `Expected '${char}'`,
    );
  cursor.at++;
}

function parseString(cursor: Cursor): string {
  const { text } = cursor;
  const start = cursor.at;
  cursor.at++;
  let escaped = false;
  for (;;) {
    const code = text.charCodeAt(cursor.at);
    if (Number.isNaN(code)) fail(cursor, "Unterminated string in JSON");
    if (code === 0x22) break;
    if (code < 0x20) fail(cursor, "Bad control character in string literal");
    if (code === 0x5c) {
      escaped = true;
      cursor.at++;
    }
    cursor.at++;
  }
  cursor.at++;
  const raw = text.slice(start, cursor.at);
  if (!escaped) return raw.slice(1, -1);
  try {
    return JSON.parse(raw) as string;
  } catch {
    cursor.at = start;
    return fail(cursor, "Bad escaped character in JSON");
  }
}

function parseValue(cursor: Cursor, depth: number): unknown {
  skipSpace(cursor);
  const { text, maxDepth } = cursor;
  const char = text[cursor.at];
  if (char === "{" || char === "[") {
    if (depth >= maxDepth) fail(cursor, `JSON nested deeper than ${maxDepth} levels`);
    return char === "{" ? parseObject(cursor, depth + 1) : parseArray(cursor, depth + 1);
  }
  if (char === '"') return parseString(cursor);
  for (const [word, value] of LITERALS) {
    if (text.startsWith(word, cursor.at)) {
      cursor.at += word.length;
      return value;
    }
  }
  NUMBER.lastIndex = cursor.at;
  const number = NUMBER.exec(text);
  if (number) {
    cursor.at = NUMBER.lastIndex;
    return Number(number[0]);
  }
  return fail(
    cursor,
    cursor.at >= text.length ? "Unexpected end of JSON input" : "Unexpected token in JSON",
  );
}

function parseArray(cursor: Cursor, depth: number): unknown[] {
  cursor.at++;
  const items: unknown[] = [];
  skipSpace(cursor);
  if (cursor.text[cursor.at] === "]") {
    cursor.at++;
    return items;
  }
  for (;;) {
    items.push(parseValue(cursor, depth));
    skipSpace(cursor);
    if (cursor.text[cursor.at] === ",") {
      cursor.at++;
      continue;
    }
    expectChar(cursor, "]");
    return items;
  }
}

function parseObject(cursor: Cursor, depth: number): OrderedRecord {
  cursor.at++;
  const object: OrderedRecord = Object.create(null);
  const order: string[] = [];
  skipSpace(cursor);
  if (cursor.text[cursor.at] === "}") cursor.at++;
  else {
    for (;;) {
      skipSpace(cursor);
      if (cursor.text[cursor.at] !== '"')
        fail(cursor, "Expected double-quoted property name in JSON");
      const key = parseString(cursor);
      skipSpace(cursor);
      expectChar(cursor, ":");
      const value = parseValue(cursor, depth);
      // A repeated key keeps its first place and its last value, as in a Python dict.
      if (!Object.hasOwn(object, key)) order.push(key);
      object[key] = value;
      skipSpace(cursor);
      if (cursor.text[cursor.at] === ",") {
        cursor.at++;
        continue;
      }
      expectChar(cursor, "}");
      break;
    }
  }
  Object.defineProperty(object, KEY_ORDER, { value: order, enumerable: false });
  return object;
}

const LITERALS: ReadonlyArray<readonly [string, unknown]> = [
  ["true", true],
  ["false", false],
  ["null", null],
];

/** An object's keys in the order its sender gave them (JavaScript's order when unknown). */
export function keysInOrder(record: object): string[] {
  const own = Object.keys(record);
  const order = (record as OrderedRecord)[KEY_ORDER];
  if (!order || order.length !== own.length) return own;
  return order.every((key) => Object.hasOwn(record, key)) ? [...order] : own;
}

/** The entries of an object in its sender's order. */
export function entriesInOrder<T>(record: Readonly<Record<string, T>>): [string, T][] {
  return keysInOrder(record).map((key) => [key, record[key] as T]);
}

/** A prototype-free copy of `record` whose keys follow `order` (names not in it follow). */
export function withKeyOrder<T>(
  record: Readonly<Record<string, T>>,
  order: readonly string[] = keysInOrder(record),
): OrderedRecord<T> {
  const copy: OrderedRecord<T> = Object.create(null);
  const keys = [...order.filter((key) => Object.hasOwn(record, key))];
  for (const key of Object.keys(record)) if (!keys.includes(key)) keys.push(key);
  for (const key of keys) copy[key] = record[key] as T;
  Object.defineProperty(copy, KEY_ORDER, { value: keys, enumerable: false });
  return copy;
}

/**
 * JSON.stringify that writes ordered objects in their sender's order.
 * Values without an order are written as JSON.stringify writes them.
 */
export function stringifyOrderedJson(value: unknown): string {
  // JSON.stringify writes the same when every object's order is its own
  // key order, as it is unless an index-like key was sent after others.
  if (inOrder(value, 0)) return JSON.stringify(value) ?? "null";
  return write(value) ?? "null";
}

/**
 * Whether JSON.stringify writes `value` right as it is (plain form of the
 * copy to plain objects, for the A/B bench: prototype-free objects are given
 * to JSON.stringify as they are).
 */
function inOrder(value: unknown, depth: number): boolean {
  if (value === null || typeof value !== "object") return true;
  if (depth > MAX_JSON_DEPTH || typeof (value as { toJSON?: unknown }).toJSON === "function") {
    return false;
  }
  if (Array.isArray(value)) {
    for (const item of value) {
      if (typeof item === "object" && item !== null && !inOrder(item, depth + 1)) return false;
    }
    return true;
  }
  const record = value as Record<string, unknown>;
  const own = Object.keys(record);
  const order = (record as OrderedRecord)[KEY_ORDER];
  if (order && order.length === own.length && order.some((key, i) => key !== own[i])) {
    return false;
  }
  for (const key of own) {
    const item = record[key];
    if (typeof item === "object" && item !== null && !inOrder(item, depth + 1)) return false;
  }
  return true;
}

function write(value: unknown): string | undefined {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  const withJson = value as { toJSON?: () => unknown };
  if (typeof withJson.toJSON === "function") return write(withJson.toJSON());
  if (Array.isArray(value)) return `[${value.map((item) => write(item) ?? "null").join(",")}]`;
  const parts: string[] = [];
  for (const key of keysInOrder(value)) {
    const text = write((value as Record<string, unknown>)[key]);
    if (text !== undefined) parts.push(`${JSON.stringify(key)}:${text}`);
  }
  return `{${parts.join(",")}}`;
}
