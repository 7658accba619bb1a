import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { describe, expect, it, vi } from "vitest";

describe("pnpm start:prepare", () => {
  it("starts without Redis or Podman and stops cleanly on SIGTERM", async () => {
    const main = fileURLToPath(new URL("./main.ts", import.meta.url));
    const child = spawn(process.execPath, [main], {
      env: { ...process.env, PORT: "0", HOST: "127.0.0.1", UPSTREAM_URL: "http://127.0.0.1:9" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += String(chunk);
    });
    await vi.waitFor(
      () => {
        if (!output.includes("prepare tier listening")) throw new Error(output);
      },
      { timeout: 20_000, interval: 50 },
    );
    const url = /"url":"(http:[^"]+)"/.exec(output)?.[1]?.replace("0.0.0.0", "127.0.0.1");
    const health = await fetch(`${url}/health`);
    expect(await health.json()).toEqual({ status: "ok" });

    child.kill("SIGTERM");
    const [code] = await once(child, "exit");
    expect(code).toBe(0);
    expect(output).toContain('"msg":"stopping"');
  });
});
