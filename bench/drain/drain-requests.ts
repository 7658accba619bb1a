import { pairs } from "../build/distinct-requests.ts";
import { request } from "../build/request.ts";

const PAIRS = pairs();

/**
 * `count` distinct build requests, each taking the double's set time
 * (`slowpackage`): a pair of extras, and past the pairs a root filesystem
 * size of its own (2,046 of them before sizes pass 130 MB).
 */
export function drainRequests(count: number) {
  return Array.from({ length: count }, (_, i) => {
    const pair = PAIRS[i % PAIRS.length] as readonly [string, string];
    const round = Math.floor(i / PAIRS.length);
    return {
      ...request,
      packages: [...request.packages, "slowpackage", ...pair],
      ...(round > 0 ? { rootfs_size_mb: 100 + round } : {}),
    };
  });
}
