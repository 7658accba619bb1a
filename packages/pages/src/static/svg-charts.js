// Small SVG charts drawn in the browser: a line chart for series over time
// and horizontal bars for rankings. Each chart comes with a legend and a
// table of its numbers, so nothing is only visible as a picture.

import { el } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const PALETTE_SIZE = 8;

function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function seriesColour(index) {
  return `var(--series-${(index % PALETTE_SIZE) + 1})`;
}

/** A round upper bound and step for the value axis: 0, 5, 10 … rather than 0, 4.6, 9.2 … */
export function niceScale(max, ticks = 4) {
  if (!(max > 0)) return { top: 1, step: 1 };
  const rough = max / ticks;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= rough) ?? rough;
  const whole = Math.max(1, step);
  return { top: Math.ceil(max / whole) * whole, step: whole };
}

function formatNumber(value) {
  if (!Number.isFinite(value)) return "";
  return Number.isInteger(value) ? value.toLocaleString("en") : value.toFixed(1);
}

function dataTable(caption, headers, rows) {
  return el(
    "details",
    {},
    el("summary", {}, "Numbers"),
    el(
      "div",
      { className: "table-scroll" },
      el(
        "table",
        {},
        el("caption", { className: "muted" }, caption),
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            headers.map((header, index) =>
              el("th", { scope: "col", className: index > 0 ? "num" : "" }, header),
            ),
          ),
        ),
        el(
          "tbody",
          {},
          rows.map((row) =>
            el(
              "tr",
              {},
              row.map((cell, index) =>
                el(
                  index === 0 ? "th" : "td",
                  index === 0 ? { scope: "row" } : { className: "num" },
                  index === 0 ? cell : formatNumber(cell),
                ),
              ),
            ),
          ),
        ),
      ),
    ),
  );
}

function emptyChart(figure, message) {
  figure.replaceChildren(el("p", { className: "muted" }, message));
  figure.dataset.drawn = "empty";
}

/** One series as a polyline, with a dot and its value for each day it is not zero. */
function seriesLine(item, index, labels, x, y) {
  const colour = seriesColour(index);
  const points = item.data.map((value, at) => `${x(at).toFixed(1)},${y(value).toFixed(1)}`);
  const group = svg("g", { "data-series": item.label });
  group.append(
    svg("polyline", {
      points: points.join(" "),
      fill: "none",
      style: `stroke: ${colour}`,
      "stroke-width": 2,
      "stroke-linejoin": "round",
    }),
  );
  item.data.forEach((value, at) => {
    if (value > 0) {
      group.append(
        svg(
          "circle",
          { cx: x(at), cy: y(value), r: 3, style: `fill: ${colour}` },
          svg("title", {}, `${item.label}, ${labels[at]}: ${formatNumber(value)}`),
        ),
      );
    }
  });
  return group;
}

function legendOf(series) {
  return el(
    "ul",
    { className: "legend" },
    series.map((item, index) =>
      el(
        "li",
        {},
        el("span", { className: "swatch", style: `background: ${seriesColour(index)}` }),
        item.label,
      ),
    ),
  );
}

/**
 * Series over shared labels (days, weeks). `series` is `[{label, data}]`,
 * each `data` as long as `labels`.
 */
export function lineChart(figure, { labels, series }, { title, empty = "No data yet." } = {}) {
  const total = series.reduce((sum, item) => sum + item.data.reduce((a, b) => a + b, 0), 0);
  if (labels.length === 0 || series.length === 0 || total === 0) {
    emptyChart(figure, empty);
    return;
  }
  const width = 720;
  const height = 260;
  const pad = { left: 44, right: 12, top: 12, bottom: 36 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const max = Math.max(...series.flatMap((item) => item.data));
  const { top, step } = niceScale(max);
  const x = (index) =>
    pad.left + (labels.length === 1 ? plotW / 2 : (index * plotW) / (labels.length - 1));
  const y = (value) => pad.top + plotH - (value / top) * plotH;

  const grid = svg("g", { class: "axis" });
  for (let value = 0; value <= top; value += step) {
    grid.append(
      svg("line", { x1: pad.left, x2: width - pad.right, y1: y(value), y2: y(value) }),
      svg("text", { x: pad.left - 6, y: y(value) + 4, "text-anchor": "end" }, formatNumber(value)),
    );
  }
  const every = Math.max(1, Math.ceil(labels.length / 8));
  // The outermost labels stay inside the picture.
  const anchor = (index) =>
    index === labels.length - 1 && labels.length > 1 ? "end" : index === 0 ? "start" : "middle";
  labels.forEach((label, index) => {
    // Counted from the newest, so the latest day is always labelled.
    if ((labels.length - 1 - index) % every !== 0) return;
    grid.append(
      svg(
        "text",
        { x: x(index), y: height - pad.bottom + 16, "text-anchor": anchor(index) },
        shortLabel(label),
      ),
    );
  });

  const lines = series.map((item, index) => seriesLine(item, index, labels, x, y));

  const summary = series.map(
    (item) => `${item.label} ${formatNumber(item.data.reduce((a, b) => a + b, 0))}`,
  );
  const chart = svg(
    "svg",
    {
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": `${title}: ${summary.join(", ")}`,
    },
    grid,
    ...lines,
  );
  const legend = legendOf(series);
  const rows = labels.map((label, at) => [label, ...series.map((item) => item.data[at] ?? 0)]);
  figure.replaceChildren(
    chart,
    legend,
    dataTable(title, ["", ...series.map((item) => item.label)], rows),
  );
  figure.dataset.drawn = "chart";
}

/** `2025-01-31Z` → `01-31`: the axis has little room. */
function shortLabel(label) {
  const match = /^\d{4}-(\d{2}-\d{2})/.exec(String(label));
  return match ? match[1] : String(label).slice(0, 10);
}

/** `[label, value]` pairs as horizontal bars, largest first unless `keepOrder`. */
export function barChart(
  figure,
  pairs,
  { title, unit = "", empty = "No data yet.", keepOrder = false } = {},
) {
  const shown = pairs.filter(([, value]) => Number.isFinite(value) && value > 0);
  if (shown.length === 0) {
    emptyChart(figure, empty);
    return;
  }
  if (!keepOrder) shown.sort((a, b) => b[1] - a[1]);
  const width = 720;
  const row = 24;
  const labelWidth = Math.min(
    260,
    16 + 7 * Math.max(...shown.map(([label]) => String(label).length)),
  );
  const valueWidth = 80;
  const height = shown.length * row + 8;
  const max = Math.max(...shown.map(([, value]) => value));
  const bars = shown.map(([label, value], index) => {
    const top = 4 + index * row;
    const length = ((width - labelWidth - valueWidth) * value) / max;
    return svg(
      "g",
      { "data-bar": label },
      svg(
        "text",
        { class: "bar-label", x: labelWidth - 8, y: top + 16, "text-anchor": "end" },
        String(label),
      ),
      svg("rect", {
        x: labelWidth,
        y: top + 3,
        width: Math.max(1, length).toFixed(1),
        height: row - 6,
        rx: 3,
        style: `fill: ${seriesColour(0)}`,
      }),
      svg("text", { x: labelWidth + length + 6, y: top + 16 }, `${formatNumber(value)}${unit}`),
    );
  });
  const chart = svg(
    "svg",
    {
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": `${title}: ${shown
        .slice(0, 5)
        .map(([label, value]) => `${label} ${formatNumber(value)}${unit}`)
        .join(", ")}`,
    },
    ...bars,
  );
  figure.replaceChildren(chart, dataTable(title, ["", unit.trim() || "count"], shown));
  figure.dataset.drawn = "chart";
}
