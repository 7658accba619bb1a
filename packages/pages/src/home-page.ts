import { type Branch, isSnapshot, type TargetsJson, versionsByBranch } from "@asu/openwrt-releases";
import type { OpenwrtCatalog, ServerVersions } from "@asu/upstream";
import { newestTargets, UpstreamUnavailableError } from "@asu/upstream";
import { html, raw } from "hono/html";
import { type Html, renderPage } from "./layout.ts";
import type { LiveStatus } from "./live-status.ts";
import type { StaticAssets } from "./static-assets.ts";

export interface HomePageSettings {
  allow_defaults: boolean;
  repository_allow_list: readonly string[];
  max_custom_rootfs_size_mb: number;
  max_defaults_length: number;
  upstream_url: string;
  server_contact?: string | undefined;
}

export interface HomePageDeps {
  catalog: Pick<OpenwrtCatalog, "branches" | "versions" | "targets">;
  settings: HomePageSettings;
  /** The server's own version. */
  version: string;
  liveStatus: () => Promise<LiveStatus | undefined>;
  assets: StaticAssets;
}

export interface BranchView {
  name: string;
  /** Newest first. */
  versions: readonly string[];
  /** From the branch's newest version that upstream has published targets for. */
  targets: TargetsJson | undefined;
}

export interface HomeView {
  branches: readonly BranchView[];
  latest: readonly string[];
  settings: HomePageSettings;
  version: string;
}

/** Where the live numbers go into the cached page. */
const LIVE_SLOT = "<!--live-status-->";

export const CLIENTS = [
  {
    name: "Firmware Selector",
    href: "https://firmware-selector.openwrt.org",
    text: "in the browser: pick a device, add packages, download.",
  },
  {
    name: "luci-app-attendedsysupgrade",
    href: "https://openwrt.org/docs/guide-user/installation/attended.sysupgrade",
    text: "on the router, in LuCI: upgrade keeping the installed packages.",
  },
  {
    name: "owut",
    href: "https://openwrt.org/docs/guide-user/installation/sysupgrade.owut",
    text: "on the router, on the command line.",
  },
];

/** `ath79/generic` and `ath79/nand` under one `ath79`: a long list becomes a short one. */
export function targetFamilies(targets: TargetsJson): [string, string[]][] {
  const families = new Map<string, string[]>();
  for (const target of Object.keys(targets).sort()) {
    const [family = target, subtarget = ""] = target.split("/");
    const list = families.get(family) ?? [];
    list.push(subtarget);
    families.set(family, list);
  }
  return [...families];
}

function versionItem(version: string, latest: ReadonlySet<string>): Html {
  return html`<li><a href="/build?version=${encodeURIComponent(version)}">${version}</a>${
    latest.has(version) ? html`<span class="badge latest">latest</span>` : ""
  }${isSnapshot(version) ? html`<span class="badge snapshot">snapshot</span>` : ""}</li>`;
}

function targetsBlock(targets: TargetsJson | undefined): Html {
  if (!targets || Object.keys(targets).length === 0) {
    return html`<p class="muted">Targets not published yet.</p>`;
  }
  const families = targetFamilies(targets).map(
    ([family, subtargets]) => html`<li><b>${family}</b> ${subtargets.join(", ")}</li>`,
  );
  const count = Object.keys(targets).length;
  return html`<details><summary>${count} target${count === 1 ? "" : "s"}</summary><ul class="targets">${families}</ul></details>`;
}

function branchBlock(branch: BranchView, latest: ReadonlySet<string>): Html {
  const id = `branch-${branch.name.replace(/[^\w-]/g, "_")}`;
  return html`<section class="branch" aria-labelledby="${id}">
<h3 id="${id}">${branch.name}</h3>
<ul class="versions">${branch.versions.map((version) => versionItem(version, latest))}</ul>
${targetsBlock(branch.targets)}
</section>`;
}

function settingsBlock(view: HomeView): Html {
  const { settings } = view;
  const allowList =
    settings.repository_allow_list.length === 0
      ? "none: only the official repositories"
      : html`<ul>${settings.repository_allow_list.map((url) => html`<li><code>${url}</code></li>`)}</ul>`;
  const rows: [Html | string, Html | string][] = [
    [
      html`First-boot scripts (<code>defaults</code>)`,
      settings.allow_defaults ? "allowed" : "not allowed",
    ],
    ["Largest root filesystem", `${settings.max_custom_rootfs_size_mb} MB`],
    ["Longest first-boot script", `${settings.max_defaults_length} characters`],
    ["Extra repositories allowed", allowList],
    ["Metadata from", html`<a href="${settings.upstream_url}">${settings.upstream_url}</a>`],
    ["Server version", view.version],
  ];
  if (settings.server_contact) rows.push(["Contact", settings.server_contact]);
  return html`<dl class="settings">${rows.map(([term, value]) => html`<div><dt>${term}</dt><dd>${value}</dd></div>`)}</dl>`;
}

/** The page without its live numbers: the same for everyone until upstream changes. */
export function renderHomeMain(view: HomeView): Html {
  const latest = new Set(view.latest);
  const clients = CLIENTS.map(
    (client) => html`<li><a href="${client.href}">${client.name}</a> — ${client.text}</li>`,
  );
  const branches = view.branches.filter((branch) => branch.versions.length > 0);
  return html`<h1>OpenWrt firmware, built to order</h1>
<p class="lead">This server builds OpenWrt images that already contain the packages you choose, so an upgrade keeps them. Routers ask it through the clients below; without a router at hand, use the <a href="/build">build page</a>.</p>
<section aria-labelledby="status-heading">
<h2 id="status-heading">Right now</h2>
${raw(LIVE_SLOT)}
</section>
<section aria-labelledby="clients-heading">
<h2 id="clients-heading">Clients</h2>
<ul class="clients">${clients}</ul>
<p>Also here: <a href="/build">build an image</a>, <a href="/stats">statistics</a>, <a href="/docs">API documentation</a>.</p>
</section>
<section aria-labelledby="versions-heading">
<h2 id="versions-heading">Versions</h2>
<p class="muted">Per branch, newest first. Snapshots follow the head of their branch and change often.</p>
<div class="branches">${branches.map((branch) => branchBlock(branch, latest))}</div>
</section>
<section aria-labelledby="settings-heading">
<h2 id="settings-heading">Server settings</h2>
${settingsBlock(view)}
</section>`;
}

export async function renderLiveStatus(status: LiveStatus | undefined): Promise<string> {
  if (!status) {
    return '<p class="notice" id="live-status">The build queue cannot be reached right now.</p>';
  }
  const busy = status.workersBusy > 0 ? ` (${status.workersBusy} building)` : "";
  const fragment = await html`<dl class="status" id="live-status">
<div><dt>Builds waiting</dt><dd data-live="queue">${status.queueLength}</dd></div>
<div><dt>Workers online</dt><dd data-live="workers">${status.workersOnline}${busy}</dd></div>${
    status.newBuildEtaSeconds === undefined
      ? ""
      : html`
<div><dt>A new build takes</dt><dd data-live="eta">${aboutSeconds(status.newBuildEtaSeconds)}</dd></div>`
  }
</dl>`;
  return fragment.toString();
}

/** `about 40 s`, `about 3 min`, `about 2 h`: an estimate, so no false precision. */
export function aboutSeconds(seconds: number): string {
  if (seconds < 90) return `about ${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 90 * 60) return `about ${Math.round(seconds / 60)} min`;
  return `about ${Math.round(seconds / 3600)} h`;
}

function unavailableMain(error: UpstreamUnavailableError): Html {
  return html`<h1>OpenWrt firmware, built to order</h1>
<p class="notice" role="alert">The list of versions cannot be read right now: ${error.message}</p>
<section aria-labelledby="status-heading"><h2 id="status-heading">Right now</h2>${raw(LIVE_SLOT)}</section>`;
}

/**
 * `GET /`: rendered once per upstream versions and targets files (the
 * metadata client hands out the same objects until upstream changes), with
 * the live numbers put in per request.
 */
export function createHomePage(deps: HomePageDeps): () => Promise<string> {
  const { catalog } = deps;
  let cached: { inputs: unknown[]; parts: [string, string] } | undefined;

  function parts(page: string): [string, string] {
    const at = page.indexOf(LIVE_SLOT);
    return [page.slice(0, at), page.slice(at + LIVE_SLOT.length)];
  }

  async function staticParts(): Promise<[string, string]> {
    let versions: ServerVersions;
    try {
      versions = await catalog.versions();
    } catch (error) {
      if (!(error instanceof UpstreamUnavailableError)) throw error;
      return parts(
        await renderPage(
          { title: "Overview", current: "home", main: unavailableMain(error) },
          deps.assets,
        ),
      );
    }
    const grouped = versionsByBranch(versions.versions, catalog.branches);
    const enabled = catalog.branches.filter((branch: Branch) => branch.enabled);
    const targets = await Promise.all(
      enabled.map((branch) => newestTargets(catalog, grouped.get(branch.name) ?? [])),
    );
    const inputs = [versions, ...targets];
    if (cached?.inputs.every((input, index) => Object.is(input, inputs[index]))) {
      return cached.parts;
    }
    const view: HomeView = {
      branches: enabled.map((branch, index) => ({
        name: branch.name,
        versions: grouped.get(branch.name) ?? [],
        targets: targets[index],
      })),
      latest: versions.latest,
      settings: deps.settings,
      version: deps.version,
    };
    const page = await renderPage(
      { title: "Overview", current: "home", main: renderHomeMain(view), scripts: ["home-page.js"] },
      deps.assets,
    );
    cached = { inputs, parts: parts(page) };
    return cached.parts;
  }

  return async () => {
    const [[before, after], status] = await Promise.all([staticParts(), deps.liveStatus()]);
    return before + (await renderLiveStatus(status)) + after;
  };
}
