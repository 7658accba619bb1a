// The server-side package rules and migrations: what a build changes in a request, the list
// handed to the ImageBuilder, and which packages no index offers (problems, suggestions).
export * from "./diff-packages.ts";
export * from "./package-availability.ts";
export * from "./package-problems.ts";
export * from "./package-resolution.ts";
export * from "./package-rules.ts";
export * from "./package-suggestions.ts";
