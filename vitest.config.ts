import { defineConfig } from "vitest/config";

// Three projects, chosen by what a test needs, not by where it sits:
// - unit: plain inputs, in-process apps, and the cheap real services a test
//   starts in milliseconds (redis-server, the fake upstream, s3rver). The
//   inner loop: `pnpm test:unit`.
// - e2e (`*.e2e.test.ts`): tests that start Podman, build or run container
//   images, drive a browser, spawn a tier as its own process, or wait out a
//   real lock: `pnpm test:e2e`.
// - deployment: the compose stacks built from the Containerfiles:
//   `pnpm test:deployment`.
const sources = ["packages/*/src/**/*.test.ts", "services/*/src/**/*.test.ts", "test/**/*.test.ts"];
const deployment = "test/deployment.test.ts";

export default defineConfig({
  test: {
    testTimeout: 90_000,
    hookTimeout: 120_000,
    // expect.poll waits for a condition, never a fixed time: generous, so a
    // loaded machine is slow, not red.
    expect: { poll: { timeout: 10_000, interval: 50 } },
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: sources,
          exclude: ["**/node_modules/**", "**/*.e2e.test.ts", deployment],
          testTimeout: 20_000,
          hookTimeout: 30_000,
          // Most of the time is imports and waits on sockets, not CPU: threads
          // that keep their imported modules from file to file (no test
          // mocks modules or stubs globals), more of them than cores.
          pool: "threads",
          isolate: false,
          maxWorkers: 3,
          // The tests of each file in a new order every run: a test that
          // needs another to have run first fails here, not some day in CI.
          // A failure prints the seed; --sequence.seed=N replays that order.
          // Files keep the longest-first order, which keeps the run short;
          // which thread runs which file after which varies anyway.
          sequence: { shuffle: { tests: true } },
        },
      },
      {
        extends: true,
        test: {
          name: "e2e",
          include: sources.map((glob) => glob.replace(/\.test\.ts$/, ".e2e.test.ts")),
        },
      },
      {
        extends: true,
        test: { name: "deployment", include: [deployment] },
      },
    ],
  },
});
