import { html } from "hono/html";
import { renderPage } from "./layout.ts";
import type { StaticAssets } from "./static-assets.ts";

/*
 * Each figure has a table of its numbers next to the chart (in a details
 * element), so the data reach screen readers and people who want figures.
 */
const MAIN = html`<h1>Statistics</h1>
<p class="lead">What this server has been asked for and how its builds went. Recorded only when the operator turns statistics on.</p>
<p class="notice" id="stats-notice" role="status" hidden></p>
<section aria-labelledby="summary-heading">
<h2 id="summary-heading">Summary</h2>
<p class="muted" id="summary-period"></p>
<div id="summary" class="tiles" aria-live="polite"></div>
</section>
<section aria-labelledby="per-day-heading">
<h2 id="per-day-heading">Builds per day</h2>
<figure class="chart" id="builds-per-day" data-kind="line"></figure>
</section>
<section aria-labelledby="per-version-heading">
<h2 id="per-version-heading">Builds per week, by branch</h2>
<div class="field"><label for="version-branch">Weekly builds of</label>
<select id="version-branch"><option value="">every branch</option></select></div>
<figure class="chart" id="builds-by-version" data-kind="line"></figure>
</section>
<section aria-labelledby="packages-heading">
<h2 id="packages-heading">Most requested packages</h2>
<div class="field"><label for="packages-branch">Packages requested in</label>
<select id="packages-branch"><option value="">every branch</option></select></div>
<figure class="chart" id="top-packages" data-kind="bars"></figure>
</section>
<section aria-labelledby="popular-heading">
<h2 id="popular-heading">Popular release requests</h2>
<p class="muted">Built ahead for a newly announced release, most clients first.</p>
<table id="popular-requests"><thead><tr><th scope="col">Model</th><th scope="col">Version</th><th scope="col">Packages</th><th scope="col">Clients</th></tr></thead><tbody></tbody></table>
</section>
<div id="summary-charts"></div>
<section aria-labelledby="errors-heading">
<h2 id="errors-heading">Recent build errors</h2>
<pre id="build-errors" class="log" tabindex="0">Loading…</pre>
</section>`;

/** `GET /stats`: a static shell; stats-page.js reads the JSON endpoints and draws SVG charts. */
export function renderStatsPage(assets: StaticAssets): Promise<string> {
  return renderPage(
    { title: "Statistics", current: "stats", main: MAIN, scripts: ["stats-page.js"] },
    assets,
  );
}
