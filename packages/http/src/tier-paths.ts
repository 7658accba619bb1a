/*
 * Which HTTP tier answers a path: the prepare tier has one route, the build
 * tier everything else. The all-in-one server splits by this; the Caddyfile
 * (the microservices stack's front door) says the same in its `@prepare`
 * matcher, and a test keeps the two alike.
 */

/** The prepare tier's one route. */
export const PREPARE_PATH = "/api/v1/build/prepare";

/**
 * The paths that go to the prepare tier: its route, and its route with a
 * trailing slash, which the prepare tier answers (404, as FastAPI does)
 * rather than the build tier reading `prepare/` as a request hash.
 */
export const PREPARE_PATHS: readonly string[] = [PREPARE_PATH, `${PREPARE_PATH}/`];

export type HttpTier = "prepare" | "build";

/** The path of a request URL, without parsing it into a URL object on every request. */
export function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start === -1) return "/";
  const query = url.indexOf("?", start);
  return query === -1 ? url.slice(start) : url.slice(start, query);
}

/** The tier that answers a request for this URL. */
export function tierOf(url: string): HttpTier {
  return PREPARE_PATHS.includes(pathOf(url)) ? "prepare" : "build";
}
