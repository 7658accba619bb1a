/**
 * Waits for a queue client's goodbye (a worker's close, a connection's quit,
 * a last heartbeat) at most `ms`, whatever its outcome: a Redis or container
 * API that has gone must not keep a stopping process alive.
 */
export async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}
