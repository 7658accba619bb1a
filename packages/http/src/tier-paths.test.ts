import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { PREPARE_PATH, PREPARE_PATHS, tierOf } from "./tier-paths.ts";

describe("tierOf", () => {
  it("sends the prepare route, with or without a trailing slash, to the prepare tier", () => {
    expect(tierOf("http://localhost:8000/api/v1/build/prepare")).toBe("prepare");
    expect(tierOf("http://localhost:8000/api/v1/build/prepare/")).toBe("prepare");
    expect(tierOf("http://[::1]:8000/api/v1/build/prepare?client=owut")).toBe("prepare");
  });

  it("sends everything else to the build tier", () => {
    for (const path of [
      "/",
      "/api/v1/build",
      "/api/v1/build/",
      "/api/v1/build/prepared",
      `/api/v1/build/${"a".repeat(64)}`,
      "/api/v1/build/prepare//",
      "//api/v1/build/prepare",
      "/API/v1/build/prepare",
      "/store/x/y",
    ]) {
      expect(tierOf(`http://localhost${path}`), path).toBe("build");
    }
    expect(tierOf("http://localhost")).toBe("build");
    expect(tierOf("http://localhost/?x=/api/v1/build/prepare")).toBe("build");
  });
});

describe("the Caddyfile's split", () => {
  it("sends exactly PREPARE_PATHS to the prepare tier", () => {
    const caddyfile = readFileSync(new URL("../../../Caddyfile", import.meta.url), "utf8");
    const matcher = caddyfile.split("\n").find((line) => line.trim().startsWith("@prepare path "));
    expect(matcher).toBeDefined();
    const paths = (matcher as string).trim().split(/\s+/).slice(2);
    expect(paths.toSorted()).toEqual([...PREPARE_PATHS].toSorted());
    expect(caddyfile).toContain("handle @prepare {");
    expect(PREPARE_PATHS).toContain(PREPARE_PATH);
  });
});
