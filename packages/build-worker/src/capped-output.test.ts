import { describe, expect, it } from "vitest";
import { CappedOutput, DEFAULT_OUTPUT_LIMIT } from "./capped-output.ts";

function collect(limit: number, chunks: string[]): CappedOutput {
  const output = new CappedOutput(limit);
  for (const chunk of chunks) output.push(Buffer.from(chunk));
  return output;
}

describe("CappedOutput", () => {
  it("keeps everything up to the limit", () => {
    const output = collect(10, ["abc", "defg", "hij"]);
    expect(output.text()).toBe("abcdefghij");
    expect(output.omittedBytes).toBe(0);
  });

  it("keeps the beginning and the end past the limit", () => {
    const output = collect(10, ["01234", "56789", "abcde", "fghij"]);
    expect(output.omittedBytes).toBe(10);
    expect(output.text()).toBe("01234\n[... 10 bytes of output omitted ...]\nfghij");
  });

  it("splits chunks that cross the head and trims the tail byte-exactly", () => {
    const output = collect(6, ["abcdefgh", "ij", "k"]);
    // head 3 bytes, tail the last 3 of what followed
    expect(output.text()).toBe("abc\n[... 5 bytes of output omitted ...]\nijk");
  });

  it("keeps one huge chunk's start and end only", () => {
    const output = new CappedOutput(8);
    output.push(Buffer.alloc(1_000_000, "x"));
    output.push(Buffer.from("END!"));
    expect(output.text()).toBe("xxxx\n[... 999996 bytes of output omitted ...]\nEND!");
  });

  it("decodes UTF-8 across chunk boundaries", () => {
    const bytes = Buffer.from("größe ✓");
    const output = new CappedOutput(100);
    for (const byte of bytes) output.push(Buffer.from([byte]));
    expect(output.text()).toBe("größe ✓");
  });

  it("defaults to 1 MiB", () => {
    expect(new CappedOutput().limitBytes).toBe(DEFAULT_OUTPUT_LIMIT);
    expect(DEFAULT_OUTPUT_LIMIT).toBe(1_048_576);
  });
});
