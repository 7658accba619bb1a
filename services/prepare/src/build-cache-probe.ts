/**
 * Asks the build tier whether a request hash is already built. The prepare
 * tier must answer without it, so every failure (down, slow, odd answer)
 * means "not known to be built".
 */
export type BuildCacheProbe = (requestHash: string) => Promise<boolean>;

export function createBuildCacheProbe(options: {
  buildApiUrl: string | undefined;
  timeoutMs?: number;
  fetch?: typeof fetch;
}): BuildCacheProbe {
  const { buildApiUrl } = options;
  if (!buildApiUrl) return async () => false;
  const base = buildApiUrl.replace(/\/+$/, "");
  const timeoutMs = options.timeoutMs ?? 1000;
  const fetcher = options.fetch ?? fetch;
  return async (requestHash) => {
    try {
      const res = await fetcher(`${base}/api/v1/build/${encodeURIComponent(requestHash)}`, {
        method: "HEAD",
        signal: AbortSignal.timeout(timeoutMs),
      });
      return res.status === 200;
    } catch {
      return false;
    }
  };
}
