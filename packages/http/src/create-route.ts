import { createRoute as declareRoute } from "@hono/zod-openapi";

/**
 * @hono/zod-openapi's createRoute as it is: the validator runs each schema's
 * own safeParseAsync (plain form of the compiled-parser patch, for the A/B bench).
 */
export const createRoute: typeof declareRoute = declareRoute;
