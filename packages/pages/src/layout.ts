import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import type { StaticAssets } from "./static-assets.ts";

export type PageName = "home" | "build" | "stats";

/** Markup made by hono/html's `html` tag: what it interpolates is escaped, other fragments kept. */
export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

export interface PageParts {
  /** Shown in the tab, after the server's name. */
  title: string;
  current: PageName;
  /** The inside of `<main>`. */
  main: Html;
  /** `data-*` attributes of `<main>`, e.g. `{ "prepare-url": "…" }`. */
  mainData?: Readonly<Record<string, string>>;
  /** Static module scripts the page runs. */
  scripts?: string[];
}

const NAVIGATION: { page: PageName | "docs"; href: string; label: string }[] = [
  { page: "home", href: "/", label: "Overview" },
  { page: "build", href: "/build", label: "Build" },
  { page: "stats", href: "/stats", label: "Statistics" },
  { page: "docs", href: "/docs", label: "API docs" },
];

/** The frame every page shares: landmarks, navigation, the one stylesheet. */
export async function renderPage(parts: PageParts, assets: StaticAssets): Promise<string> {
  const links = NAVIGATION.map(
    ({ page, href, label }) =>
      html`<li><a href="${href}"${page === parts.current ? html` aria-current="page"` : ""}>${label}</a></li>`,
  );
  const scripts = (parts.scripts ?? []).map(
    (name) => html`<script type="module" src="${assets.url(name)}"></script>`,
  );
  const data = Object.entries(parts.mainData ?? {}).map(
    ([name, value]) => html` data-${name}="${value}"`,
  );
  const page = await html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${parts.title} · OpenWrt ASU</title>
<link rel="stylesheet" href="${assets.url("asu.css")}">
<link rel="icon" href="${assets.url("favicon.svg")}" type="image/svg+xml">
${scripts}
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="site">
<p class="brand"><a href="/">OpenWrt <abbr title="Attended SysUpgrade">ASU</abbr></a></p>
<nav aria-label="Main"><ul>${links}</ul></nav>
</header>
<main id="main"${data}>
${parts.main}
</main>
<footer class="site">
<p>Attended SysUpgrade server for <a href="https://openwrt.org">OpenWrt</a>. Machine-readable: <a href="/json/v1/overview.json">overview.json</a>, <a href="/openapi.json">OpenAPI</a>.</p>
</footer>
</body>
</html>
`;
  return page.toString();
}
