// The wire contract without I/O: the BuildRequest schema and its limits, the request hash,
// error answers (ApiError, FastAPI-shaped 422s worded as pydantic's), failure kinds and the
// repository allow list.
export * from "./api-error.ts";
export * from "./build-request.ts";
export * from "./failure-kind.ts";
export * from "./repository-allow-list.ts";
export * from "./request-hash.ts";
export * from "./validation-errors.ts";
