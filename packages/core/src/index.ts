export { ApiError, badRequest, problem } from "./api-error.ts";
