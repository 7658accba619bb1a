import { KEY_PREFIX } from "@asu/queue";
import type { Redis } from "ioredis";

/** `asu:image-check:{image}`: the last registry check of an image, by any worker. */
export function registryCheckKey(image: string): string {
  return `${KEY_PREFIX}:image-check:${image}`;
}

/*
 * Claims the image's registry check when none happened within the interval,
 * or when the upstream version_code it was made for is not the current one
 * (a snapshot image older than upstream's build). Check and claim are one
 * script, so of all workers asking at once exactly one asks the registry.
 */
const CLAIM_SCRIPT = `
local last = redis.call('GET', KEYS[1])
if last ~= false and last == ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

export interface RegistryCheckOptions {
  intervalSeconds: number;
  /** The target's upstream version_code for snapshot tags; a change re-checks at once. */
  versionCode?: string;
}

/** True when this caller should ask the registry for the image now. */
export async function claimRegistryCheck(
  redis: Redis,
  image: string,
  options: RegistryCheckOptions,
): Promise<boolean> {
  const claimed = await redis.eval(
    CLAIM_SCRIPT,
    1,
    registryCheckKey(image),
    // A release tag never changes: any value is the current one.
    `v:${options.versionCode ?? ""}`,
    String(options.intervalSeconds * 1000),
  );
  return claimed === 1;
}
