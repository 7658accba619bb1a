/** How much of one stream of one command a worker keeps: 1 MiB. */
export const DEFAULT_OUTPUT_LIMIT = 1024 * 1024;

/**
 * Collects a command's output without letting a runaway build exhaust
 * memory. Past the limit it keeps the beginning and the end, because the
 * end is where make and opkg explain a failure.
 */
export class CappedOutput {
  private readonly half: number;
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private totalBytes = 0;

  readonly limitBytes: number;

  constructor(limitBytes: number = DEFAULT_OUTPUT_LIMIT) {
    this.limitBytes = limitBytes;
    this.half = Math.floor(limitBytes / 2);
  }

  push(chunk: Buffer): void {
    this.totalBytes += chunk.length;
    let rest = chunk;
    if (this.headBytes < this.limitBytes - this.half) {
      const room = this.limitBytes - this.half - this.headBytes;
      this.head.push(rest.subarray(0, room));
      this.headBytes += Math.min(room, rest.length);
      rest = rest.subarray(room);
      if (rest.length === 0) return;
    }
    this.tail.push(rest);
    this.tailBytes += rest.length;
    while (this.tailBytes > this.half) {
      const first = this.tail[0] as Buffer;
      const excess = this.tailBytes - this.half;
      if (first.length <= excess) {
        this.tail.shift();
        this.tailBytes -= first.length;
      } else {
        this.tail[0] = first.subarray(excess);
        this.tailBytes -= excess;
      }
    }
  }

  /** Bytes dropped from the middle. */
  get omittedBytes(): number {
    return this.totalBytes - this.headBytes - this.tailBytes;
  }

  text(): string {
    const head = Buffer.concat(this.head).toString("utf8");
    const tail = Buffer.concat(this.tail).toString("utf8");
    const omitted = this.omittedBytes;
    if (omitted === 0) return head + tail;
    return `${head}\n[... ${omitted} bytes of output omitted ...]\n${tail}`;
  }
}
