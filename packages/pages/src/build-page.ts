import { html } from "hono/html";
import { renderPage } from "./layout.ts";
import type { StaticAssets } from "./static-assets.ts";

export interface BuildPageOptions {
  /** Base URL of the prepare tier; empty means this origin (one-process server, or behind the proxy). */
  prepareApiUrl?: string | undefined;
}

const MAIN = html`<h1>Build a firmware image</h1>
<p class="lead">For when the router is not at hand: choose a device, adjust its packages, see what the server would change, and download the images.</p>
<form id="build-form" novalidate>
<fieldset>
<legend>Device</legend>
<div class="field"><label for="version">Version</label>
<select id="version" name="version" required><option value="">Loading…</option></select></div>
<div class="field"><label for="target">Target</label>
<select id="target" name="target" required disabled></select></div>
<div class="field wide"><label for="device-search">Find your device by model name</label>
<input id="device-search" type="search" autocomplete="off" spellcheck="false" placeholder="e.g. Archer C7" aria-describedby="device-count" disabled>
<p class="muted" id="device-count" aria-live="polite"></p></div>
<div class="field wide"><label for="profile">Device</label>
<select id="profile" name="profile" size="8" required disabled></select></div>
</fieldset>
<fieldset>
<legend>Packages</legend>
<div class="field wide"><label for="packages">Packages in the image</label>
<textarea id="packages" name="packages" rows="8" spellcheck="false" aria-describedby="packages-hint" disabled></textarea>
<p class="muted" id="packages-hint">Filled in with the device's default packages. Add names, or delete one to leave it out; separate them with spaces or new lines.</p></div>
<div class="actions">
<button type="button" id="prepare" disabled>Check package changes</button>
<button type="submit" id="build" disabled>Request build</button>
</div>
</fieldset>
</form>
<section id="changes" aria-labelledby="changes-heading" hidden>
<h2 id="changes-heading">What the server will change</h2>
<div id="changes-body" aria-live="polite"></div>
</section>
<section id="progress" aria-labelledby="progress-heading" hidden>
<h2 id="progress-heading">Build</h2>
<p id="progress-text" role="status" aria-live="polite"></p>
<p id="progress-eta" class="muted" hidden></p>
<ol class="stages" id="stages"></ol>
</section>
<section id="result" aria-labelledby="result-heading" hidden>
<h2 id="result-heading">Images</h2>
<div id="result-body"></div>
</section>`;

/** `GET /build`: a static shell; build-page.js does the choosing, polling and listing. */
export function renderBuildPage(options: BuildPageOptions, assets: StaticAssets): Promise<string> {
  const prepareUrl = (options.prepareApiUrl ?? "").replace(/\/+$/, "");
  return renderPage(
    {
      title: "Build",
      current: "build",
      main: MAIN,
      mainData: { "prepare-url": prepareUrl },
      scripts: ["build-page.js"],
    },
    assets,
  );
}
