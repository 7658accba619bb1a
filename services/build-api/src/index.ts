export { type BuildAppDeps, createBuildApp } from "./build-app.ts";
export { startJanitor } from "./janitor.ts";
