import { escapeHtml } from "./html-escape.ts";
import type { StaticAssets } from "./static-assets.ts";

export type PageName = "home" | "build" | "stats";

export interface PageParts {
  /** Shown in the tab, after the server's name. */
  title: string;
  current: PageName;
  /** The inner HTML of `<main>`, already escaped. */
  main: string;
  /** Extra attributes of `<main>`, already escaped (e.g. `data-prepare-url="…"`). */
  mainAttributes?: string;
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
export function renderPage(parts: PageParts, assets: StaticAssets): string {
  const links = NAVIGATION.map(({ page, href, label }) => {
    const current = page === parts.current ? ' aria-current="page"' : "";
    return `<li><a href="${href}"${current}>${label}</a></li>`;
  }).join("");
  const scripts = (parts.scripts ?? [])
    .map((name) => `<script type="module" src="${escapeHtml(assets.url(name))}"></script>`)
    .join("");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${escapeHtml(parts.title)} · OpenWrt ASU</title>
<link rel="stylesheet" href="${escapeHtml(assets.url("asu.css"))}">
<link rel="icon" href="${escapeHtml(assets.url("favicon.svg"))}" type="image/svg+xml">
${scripts}
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="site">
<p class="brand"><a href="/">OpenWrt <abbr title="Attended SysUpgrade">ASU</abbr></a></p>
<nav aria-label="Main"><ul>${links}</ul></nav>
</header>
<main id="main"${parts.mainAttributes ? ` ${parts.mainAttributes}` : ""}>
${parts.main}
</main>
<footer class="site">
<p>Attended SysUpgrade server for <a href="https://openwrt.org">OpenWrt</a>. Machine-readable: <a href="/json/v1/overview.json">overview.json</a>, <a href="/openapi.json">OpenAPI</a>.</p>
</footer>
</body>
</html>
`;
}
