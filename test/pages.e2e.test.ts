import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { registerStatsRoutes } from "../packages/build-tier/src/stats-routes.ts";
import type { RunningWorker } from "../packages/build-worker/src/worker.ts";
import { registerPages } from "../packages/pages/src/register-pages.ts";
import { type AsuStack, ATH79_24_10_DOUBLE, startAsuStack } from "./support/asu-stack.ts";
import { FIXTURE_REVISION_24_10 } from "./support/fake-upstream.ts";

/*
 * The pages in a real browser (Debian's Chromium, driven by playwright-core)
 * against the whole stack: fake upstream, Redis, Podman with the test-double
 * ImageBuilder, the build and prepare tiers on two origins, and a worker.
 */

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const SCREENSHOTS = new URL("../test-results/screenshots/", import.meta.url).pathname;
const REVISION = FIXTURE_REVISION_24_10;

let stack: AsuStack;
let worker: RunningWorker;
let context: BrowserContext;
let profileDir: string;
/** Console errors and uncaught exceptions of every page opened, per test. */
let problems: string[] = [];

beforeAll(async () => {
  stack = await startAsuStack({
    baseContainer: "localhost/asu-e2e-pages/imagebuilder",
    images: [ATH79_24_10_DOUBLE],
    env: { SERVER_STATS: "true" },
    extendBuildApp(app, deps) {
      // Until the build tier registers the pages and statistics itself.
      const served = (path: string) =>
        app.routes.some((route) => route.method === "GET" && route.path === path);
      if (!served("/build")) registerPages(app, deps);
      if (!served("/api/v1/builds-per-day")) registerStatsRoutes(app, deps);
    },
  });
  worker = await stack.startWorker();
  await mkdir(SCREENSHOTS, { recursive: true });
  profileDir = await mkdtemp(join(tmpdir(), "asu-chromium-"));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
}, 300_000);

afterAll(async () => {
  await context?.close();
  await worker?.close();
  await stack?.stop();
  if (profileDir) await rm(profileDir, { recursive: true, force: true });
}, 120_000);

afterEach(() => {
  expect(problems).toEqual([]);
  problems = [];
});

async function open(path: string, setup?: (page: Page) => Promise<void>): Promise<Page> {
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`${path}: console: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`${path}: ${error.message}`));
  await setup?.(page);
  await page.goto(`${stack.buildUrl}${path}`);
  return page;
}

async function screenshot(page: Page, name: string) {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

describe("home page", () => {
  it("lists the fixture versions per branch, the settings and the live queue", async () => {
    const page = await open("/");
    await expect(page.title()).resolves.toBe("Overview · OpenWrt ASU");
    const versions = await page.locator(".versions a").allTextContents();
    expect(versions).toEqual(
      expect.arrayContaining(["SNAPSHOT", "24.10.0", "24.10-SNAPSHOT", "23.05.5", "22.03.7"]),
    );
    expect(versions.indexOf("24.10.0")).toBeLessThan(versions.indexOf("23.05.5"));
    const branch = page.locator("section.branch", {
      has: page.getByRole("heading", { name: "24.10" }),
    });
    await expect(branch.locator(".badge.snapshot").count()).resolves.toBe(1);
    await branch.locator("summary").click();
    await expect(branch.locator(".targets").textContent()).resolves.toContain("ath79 generic");
    await expect(page.locator('[data-live="queue"]').textContent()).resolves.toBe("0");
    await expect(page.locator('[data-live="workers"]').textContent()).resolves.toMatch(/^1/);
    for (const name of ["Server settings", "Clients", "Versions", "Right now"]) {
      await expect(page.getByRole("heading", { name }).count()).resolves.toBe(1);
    }
    await expect(page.getByRole("link", { name: "Firmware Selector" }).count()).resolves.toBe(1);
    await screenshot(page, "home");
    await page.close();
  });

  it("fits a phone screen and follows the dark colour scheme", async () => {
    const page = await open("/", async (phone) => {
      await phone.setViewportSize({ width: 390, height: 844 });
      await phone.emulateMedia({ colorScheme: "dark" });
    });
    // Evaluated in the page (the test itself has no DOM types).
    const layout = (await page.evaluate(`({
      overflow: document.documentElement.scrollWidth - window.innerWidth,
      background: getComputedStyle(document.documentElement).backgroundColor,
    })`)) as { overflow: number; background: string };
    expect(layout.overflow).toBeLessThanOrEqual(0);
    expect(layout.background).toBe("rgb(20, 23, 26)");
    await screenshot(page, "home-phone-dark");
    await page.close();
  });
});

describe("build page", () => {
  it("chooses a device, previews the changes, builds and lists the images", async () => {
    const page = await open("/build");
    const version = page.getByLabel("Version");
    await expect
      .poll(() => version.locator("option").allTextContents())
      .toContain("24.10-SNAPSHOT (snapshot)");
    await version.selectOption("24.10.0");
    const target = page.getByLabel("Target");
    await expect.poll(() => target.isEnabled()).toBe(true);
    await target.selectOption("ath79/generic");
    await page.getByLabel("Find your device by model name").fill("archer c7");
    const device = page.getByLabel("Device", { exact: true });
    await expect
      .poll(() => device.locator("option").allTextContents())
      .toEqual(["TP-Link Archer C7 v5"]);
    const packages = page.getByLabel("Packages in the image");
    await expect.poll(() => packages.inputValue()).toContain("kmod-ath10k-ct");
    expect(await packages.inputValue()).toContain("base-files");
    await packages.fill(`${await packages.inputValue()} luci auc`);

    // The prepare tier runs on another origin: the preview crosses it.
    await page.getByRole("button", { name: "Check package changes" }).click();
    const changes = page.locator("#changes-body");
    await expect.poll(() => changes.textContent()).toContain("owut");
    expect(await changes.textContent()).toMatch(/auc/);

    const seen = new Set<string>();
    const progress = page.locator("#progress-text");
    await page.getByRole("button", { name: "Request build" }).click();
    await expect
      .poll(
        async () => {
          seen.add((await progress.textContent()) ?? "");
          return page.locator("#images tbody tr").count();
        },
        { timeout: 120_000, interval: 250 },
      )
      .toBeGreaterThan(0);
    expect([...seen].some((text) => /queue|Building/.test(text))).toBe(true);
    await expect(progress.textContent()).resolves.toContain(REVISION);

    const rows = await page.locator("#images tbody tr").evaluateAll((trs) =>
      trs.map((tr) => ({
        href: tr.querySelector("a")?.getAttribute("href") ?? "",
        sha256: tr.querySelector("code")?.textContent ?? "",
      })),
    );
    expect(rows.length).toBe(3);
    for (const row of rows) {
      expect(row.href).toMatch(/^\/store\/[0-9a-f]{64}\/openwrt-24\.10\.0-/);
      expect(row.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    const first = rows[0]!;
    const file = Buffer.from(await (await fetch(`${stack.buildUrl}${first.href}`)).arrayBuffer());
    expect(createHash("sha256").update(file).digest("hex")).toBe(first.sha256);
    await screenshot(page, "build");
    await page.close();
  }, 180_000);

  it("shows a package no index has with its fixes before any build is requested", async () => {
    const builds: string[] = [];
    const page = await open("/build?version=24.10.0&target=ath79/generic", async (tab) => {
      tab.on("request", (request) => {
        if (request.method() === "POST" && request.url().endsWith("/api/v1/build")) {
          builds.push(request.url());
        }
      });
    });
    const device = page.getByLabel("Device", { exact: true });
    await expect.poll(() => device.locator("option").count()).toBeGreaterThan(1);
    await device.selectOption("tplink_archer-c7-v5");
    const packages = page.getByLabel("Packages in the image");
    await expect.poll(() => packages.inputValue()).toContain("base-files");
    await packages.fill(`${await packages.inputValue()} lcui`);

    await page.getByRole("button", { name: "Request build" }).click();
    const problem = page.locator('#changes-body li[data-package="lcui"]');
    await expect.poll(() => problem.getAttribute("data-problem")).toBe("not_found");
    expect(await problem.textContent()).toContain("lcui");
    expect(await page.locator("#progress").isHidden()).toBe(true);
    expect(builds).toEqual([]);
    await screenshot(page, "build-problems");

    await page.getByRole("button", { name: "Use luci instead of lcui" }).click();
    await expect.poll(() => packages.inputValue()).toMatch(/ luci$/);
    expect((await packages.inputValue()).split(" ")).not.toContain("lcui");
    await expect
      .poll(() => page.locator("#changes-body").textContent())
      .toContain("Nothing: the packages are built as listed.");
    await expect(page.locator("#changes-body li[data-problem]").count()).resolves.toBe(0);
    expect(builds).toEqual([]);
    await page.close();
  }, 120_000);

  it("builds without the preview when the prepare tier cannot be reached", async () => {
    const page = await open("/build?version=24.10.0&target=ath79/generic", async (tab) => {
      await tab.route(`${stack.prepareUrl}/**`, (route) => route.abort("connectionrefused"));
    });
    const device = page.getByLabel("Device", { exact: true });
    await expect.poll(() => device.locator("option").count()).toBeGreaterThan(1);
    await device.selectOption("tplink_archer-c7-v5");
    await page.getByRole("button", { name: "Request build" }).click();
    await expect
      .poll(() => page.locator("#changes-body").textContent())
      .toContain("preview is not available");
    await expect.poll(() => page.locator("#images tbody tr").count(), { timeout: 120_000 }).toBe(3);
    // The aborted preview is the page's own doing, not a fault to report.
    problems = problems.filter((problem) => !problem.includes("ERR_CONNECTION_REFUSED"));
    await page.close();
  }, 180_000);
});

describe("statistics page", () => {
  it("draws its charts from the statistics endpoints after the builds", async () => {
    const page = await open("/stats");
    await page.waitForSelector("body[data-stats-ready]");
    for (const id of ["builds-per-day", "builds-by-version", "top-packages"]) {
      await expect(page.locator(`#${id}`).getAttribute("data-drawn")).resolves.toBe("chart");
    }
    await expect(page.locator("#builds-per-day polyline").count()).resolves.toBeGreaterThan(0);
    await expect(page.locator("#top-packages [data-bar]").count()).resolves.toBeGreaterThan(0);
    await expect(page.locator("#summary .tile").count()).resolves.toBeGreaterThan(0);
    await expect(page.locator("#clients [data-bar]").count()).resolves.toBeGreaterThan(0);
    await expect(page.locator("#stage-durations [data-bar]").count()).resolves.toBeGreaterThan(0);
    await screenshot(page, "stats");

    // One branch: a curve per version of it, and its own package ranking.
    await page.getByLabel("Weekly builds of").selectOption("24.10");
    await expect
      .poll(() => page.locator("#builds-by-version .legend").textContent())
      .toBe("24.10.0");
    await page.getByLabel("Packages requested in").selectOption("24.10");
    await expect.poll(() => page.locator("#top-packages").getAttribute("data-drawn")).toBe("chart");
    await page.getByLabel("Weekly builds of").selectOption("");
    await page.close();
  });
});
