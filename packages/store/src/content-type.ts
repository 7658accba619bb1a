/**
 * Content types of the files an ImageBuilder leaves in BIN_DIR, for object
 * stores that serve them directly. Firmware and anything unknown stays
 * `application/octet-stream`, which browsers download instead of showing.
 */
const CONTENT_TYPES: readonly (readonly [suffix: string, type: string])[] = [
  [".json", "application/json"],
  [".manifest", "text/plain; charset=utf-8"],
  [".buildinfo", "text/plain; charset=utf-8"],
  [".txt", "text/plain; charset=utf-8"],
  ["sha256sums", "text/plain; charset=utf-8"],
  [".sig", "text/plain; charset=utf-8"],
];

const FALLBACK = "application/octet-stream";

export function contentTypeOf(fileName: string): string {
  const name = fileName.toLowerCase();
  return CONTENT_TYPES.find(([suffix]) => name.endsWith(suffix))?.[1] ?? FALLBACK;
}
