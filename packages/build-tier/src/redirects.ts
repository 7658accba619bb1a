import { type ApiApp, createRoute } from "@asu/http";
import type { MiddlewareHandler } from "hono";

/** Old addresses clients still ask for, and where the file lives now. */
export const LEGACY_REDIRECTS: readonly { from: string; to: string; summary: string }[] = [
  { from: "/api/v1/latest", to: "/json/v1/latest.json", summary: "Latest releases (moved)" },
  { from: "/api/v1/overview", to: "/json/v1/overview.json", summary: "Server overview (moved)" },
  {
    from: "/api/overview",
    to: "/json/v1/overview.json",
    summary: "Server overview, as the LuCI app asks for it",
  },
  { from: "/overview", to: "/json/v1/overview.json", summary: "Server overview (very old)" },
];

const PERMANENT = 301;
/** Keeps the method and body, so a POST to `//api/v1/build` still builds. */
const PERMANENT_KEEP_METHOD = 308;

/**
 * `//x` → `/x`, for clients configured with a base URL ending in `/`. All
 * leading slashes collapse into one, so the Location can never be read as
 * the protocol-relative `//host/…` of another site; the query is kept.
 * GET and HEAD get a 301 as from the Python server; other methods a 308,
 * because a 301 lets clients turn a POST into a GET.
 */
export function doubleSlashRedirect(): MiddlewareHandler {
  return async (c, next) => {
    const url = c.req.url;
    const pathStart = url.indexOf("/", url.indexOf("://") + 3);
    if (pathStart === -1 || url[pathStart + 1] !== "/") return next();
    const target = url.slice(pathStart).replace(/^\/+/, "/");
    const status =
      c.req.method === "GET" || c.req.method === "HEAD" ? PERMANENT : PERMANENT_KEEP_METHOD;
    return c.redirect(target, status);
  };
}

/**
 * The legacy addresses and the double-slash fix. Best registered before other
 * routes: no route matches a `//…` path, but a catch-all would.
 */
export function registerRedirects(app: ApiApp): void {
  app.use("*", doubleSlashRedirect());
  for (const { from, to, summary } of LEGACY_REDIRECTS) {
    app.openapi(
      createRoute({
        method: "get",
        path: from,
        summary,
        responses: {
          [PERMANENT]: {
            description: `Moved permanently to \`${to}\``,
            headers: { Location: { schema: { type: "string", example: to } } },
          },
        },
      }),
      (c) => c.redirect(to, PERMANENT),
    );
  }
}
