// The statistics page: reads the Python server's statistics endpoints and
// draws them. Shapes: `{labels, datasets: [{label, data}]}` for series
// (builds-per-day, builds-by-version); rankings may come as such a chart
// object, as `[[name, n]]`, as `[{name, count}]` or as `{name: n}`.

import { byId, el } from "./dom.js";
import { barChart, lineChart } from "./svg-charts.js";

const TOP_PACKAGES = 20;

/** A 404 (endpoint absent) or disabled stats give a note instead of a console full of errors. */
async function getJson(path) {
  const res = await fetch(path, { headers: { accept: "application/json" } });
  if (!res.ok) throw new Error(`${path} answered ${res.status}`);
  return res.json();
}

function asSeries(json) {
  if (!json || !Array.isArray(json.labels) || !Array.isArray(json.datasets)) return undefined;
  return {
    labels: json.labels.map(String),
    series: json.datasets.map((dataset, index) => ({
      label: String(dataset.label ?? `series ${index + 1}`),
      data: json.labels.map((_, at) => Number(dataset.data?.[at] ?? 0) || 0),
    })),
  };
}

const NAME_KEYS = ["name", "package", "label", "client", "stage", "version", "branch", "key"];
const VALUE_KEYS = ["count", "value", "total", "builds", "requests", "n", "seconds", "mean", "avg"];

function pairOf(item) {
  if (Array.isArray(item) && item.length >= 2) return [String(item[0]), Number(item[1])];
  if (item && typeof item === "object") {
    const name = NAME_KEYS.find((key) => typeof item[key] === "string");
    const value = VALUE_KEYS.find((key) => typeof item[key] === "number");
    if (name && value) return [item[name], item[value]];
  }
  return undefined;
}

/** Any of the ranking shapes above as `[name, value]` pairs; undefined when it is none. */
export function asPairs(json) {
  const series = asSeries(json);
  if (series) {
    return series.labels.map((label, at) => [
      label,
      series.series.reduce((sum, item) => sum + item.data[at], 0),
    ]);
  }
  if (Array.isArray(json)) {
    const pairs = json.map(pairOf);
    return pairs.every(Boolean) ? pairs : undefined;
  }
  if (json && typeof json === "object") {
    const values = Object.values(json);
    if (values.length > 0 && values.every((value) => typeof value === "number")) {
      return Object.entries(json);
    }
    // A wrapper such as `{branch, packages: [...]}`: the one list inside.
    const inner = values.filter((value) => value && typeof value === "object");
    if (inner.length === 1) return asPairs(inner[0]);
  }
  return undefined;
}

function words(key) {
  const text = key.replace(/[_-]+/g, " ").trim();
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function tile(label, value) {
  return el(
    "div",
    { className: "tile" },
    el("div", { className: "label" }, label),
    el(
      "div",
      { className: "value" },
      typeof value === "number" ? value.toLocaleString("en") : String(value),
    ),
  );
}

function chartSection(id, title) {
  const heading = el("h2", { id: `${id}-heading` }, title);
  const figure = el("figure", { className: "chart", id });
  const section = el("section", { "aria-labelledby": heading.id }, heading, figure);
  return { section, figure };
}

const STAGE_NAMES = {
  init: "Starting",
  container_setup: "Setting up the ImageBuilder",
  validate_revision: "Checking the revision",
  validate_manifest: "Resolving packages",
  building_image: "Building the image",
  total: "Whole build",
};
const STAGE_ORDER = Object.keys(STAGE_NAMES);

function stageRank(stage) {
  const at = STAGE_ORDER.indexOf(stage);
  return at === -1 ? STAGE_ORDER.length - 1 : at;
}

/** `{stage: {count, mean_seconds}}` as bars in build order, the whole build last. */
function stagePairs(stages) {
  return Object.entries(stages)
    .filter(([, value]) => value && typeof value.mean_seconds === "number")
    .sort(([a], [b]) => stageRank(a) - stageRank(b))
    .map(([stage, value]) => [STAGE_NAMES[stage] ?? words(stage), value.mean_seconds]);
}

/**
 * The summary: event totals become tiles, clients and stage durations get
 * charts of their own, and anything else in it is shown as well as its
 * shape allows (numbers as tiles, rankings as bars).
 */
function drawSummary(summary) {
  const { period, events, clients, stages, ...rest } = summary ?? {};
  const tiles = [];
  const charts = [];
  if (period?.from && period?.to) {
    byId("summary-period").textContent =
      `The last ${period.days} days: ${period.from} to ${period.to}.`;
  }
  for (const [key, value] of Object.entries(events ?? {})) tiles.push(tile(words(key), value));
  if (clients) {
    const { section, figure } = chartSection("clients", "Clients");
    barChart(figure, asPairs(clients) ?? [], { title: "Build requests per client" });
    charts.push(section);
  }
  if (stages) {
    const { section, figure } = chartSection("stage-durations", "Build duration per stage");
    const timed = stages.total?.count;
    if (typeof timed === "number") {
      const note = `Mean seconds over ${timed} timed build${timed === 1 ? "" : "s"}.`;
      section.insertBefore(el("p", { className: "muted" }, note), figure);
    }
    barChart(figure, stagePairs(stages), {
      title: "Mean duration per stage",
      unit: " s",
      keepOrder: true,
    });
    charts.push(section);
  }
  for (const [key, value] of Object.entries(rest)) {
    if (typeof value === "number" || typeof value === "string") {
      tiles.push(tile(words(key), value));
      continue;
    }
    const pairs = asPairs(value);
    if (pairs) {
      const { section, figure } = chartSection(`summary-${key}`, words(key));
      barChart(figure, pairs, { title: words(key) });
      charts.push(section);
    }
  }
  byId("summary").replaceChildren(...tiles);
  byId("summary-charts").replaceChildren(...charts);
}

function unavailable(figure, error) {
  figure.replaceChildren(el("p", { className: "muted" }, `Not available: ${error.message}`));
  figure.dataset.drawn = "unavailable";
}

async function drawBuildsPerDay() {
  const figure = byId("builds-per-day");
  try {
    const series = asSeries(await getJson("/api/v1/builds-per-day"));
    lineChart(figure, series ?? { labels: [], series: [] }, { title: "Builds per day" });
  } catch (error) {
    unavailable(figure, error);
  }
}

async function drawBuildsByVersion() {
  const figure = byId("builds-by-version");
  const branch = byId("version-branch").value;
  const query = branch ? `?branch=${encodeURIComponent(branch)}` : "";
  try {
    const series = asSeries(await getJson(`/api/v1/builds-by-version${query}`));
    lineChart(figure, series ?? { labels: [], series: [] }, {
      title: branch ? `Builds per week, versions of ${branch}` : "Builds per week, by branch",
    });
  } catch (error) {
    unavailable(figure, error);
  }
}

async function drawTopPackages() {
  const figure = byId("top-packages");
  const branch = byId("packages-branch").value;
  const params = new URLSearchParams({ n: String(TOP_PACKAGES) });
  if (branch) params.set("branch", branch);
  try {
    const pairs = asPairs(await getJson(`/api/v1/top-packages?${params}`)) ?? [];
    barChart(figure, pairs, {
      title: branch ? `Most requested packages, ${branch}` : "Most requested packages",
    });
  } catch (error) {
    unavailable(figure, error);
  }
}

async function drawSummaryPart() {
  try {
    drawSummary(await getJson("/api/v1/stats/summary"));
  } catch (error) {
    const notice = byId("stats-notice");
    notice.textContent = `The summary is not available: ${error.message}`;
    notice.hidden = false;
  }
}

/** `/api/v1/stats` `popular_requests`: the requests prebuilt on a release day. */
async function drawPopular() {
  const body = byId("popular-requests").querySelector("tbody");
  try {
    const { popular_requests: popular = [] } = await getJson("/api/v1/stats");
    const rows = popular.map((entry) =>
      el(
        "tr",
        {},
        el("td", {}, `${entry.model} (${entry.target})`),
        el("td", {}, entry.version),
        el("td", {}, String(entry.packages)),
        el("td", {}, String(entry.clients)),
      ),
    );
    body.replaceChildren(
      ...(rows.length > 0 ? rows : [el("tr", {}, el("td", { colSpan: 4 }, "None yet"))]),
    );
  } catch (error) {
    body.replaceChildren(el("tr", {}, el("td", { colSpan: 4 }, `Not available: ${error.message}`)));
  }
}

async function showErrors() {
  const log = byId("build-errors");
  try {
    const res = await fetch("/api/v1/build-errors");
    log.textContent = res.ok ? await res.text() : `Not available (${res.status})`;
  } catch (error) {
    log.textContent = `Not available: ${error.message}`;
  }
}

async function fillBranches() {
  try {
    const overview = await getJson("/json/v1/overview.json");
    const names = Object.values(overview.branches)
      .filter((branch) => branch.enabled && branch.versions.length > 0)
      .map((branch) => branch.name);
    for (const id of ["version-branch", "packages-branch"]) {
      const select = byId(id);
      for (const name of names) {
        select.append(el("option", { value: name }, name));
      }
    }
  } catch {
    // Without the branch list the charts still show every branch.
  }
}

byId("version-branch").addEventListener("change", drawBuildsByVersion);
byId("packages-branch").addEventListener("change", drawTopPackages);
await Promise.all([
  fillBranches(),
  drawSummaryPart(),
  drawBuildsPerDay(),
  drawBuildsByVersion(),
  drawTopPackages(),
  drawPopular(),
  showErrors(),
]);
document.body.dataset.statsReady = "true";
