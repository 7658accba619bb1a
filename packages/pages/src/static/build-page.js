// The build page: version → target → device, packages, the prepare preview,
// the build request and its progress, then the images. It speaks the
// public API only (the same calls the Firmware Selector makes).

import { byId, el } from "./dom.js";

const POLL_MS = 2000;
const STAGES = [
  ["init", "Starting"],
  ["container_setup", "Setting up the ImageBuilder"],
  ["validate_revision", "Checking the revision"],
  ["validate_manifest", "Resolving packages"],
  ["building_image", "Building the image"],
  ["done", "Done"],
];

const main = byId("main");
const prepareBase = (main?.dataset.prepareUrl ?? "").replace(/\/+$/, "");
const form = byId("build-form");
const versionSelect = byId("version");
const targetSelect = byId("target");
const searchInput = byId("device-search");
const profileSelect = byId("profile");
const packagesInput = byId("packages");
const prepareButton = byId("prepare");
const buildButton = byId("build");

const state = {
  devices: undefined,
  /** `{ key, answer }`: the last prepare answer and the request it was for. */
  prepared: undefined,
  pollTimer: undefined,
  /** When the server expects the build to be done (ms), and the timer counting down to it. */
  etaDeadline: undefined,
  etaTimer: undefined,
  /** Bumped on every new build request, so a late poll of an old one is ignored. */
  buildRun: 0,
};

class ApiFailure extends Error {
  constructor(status, body) {
    super(describeError(status, body));
    this.status = status;
    this.body = body;
  }
}

/** The contract's error shapes: `detail` text, or FastAPI's list for 422. */
function describeError(status, body) {
  const detail = body?.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((item) => `${(item.loc ?? []).slice(1).join(".") || "request"}: ${item.msg}`)
      .join("; ");
  }
  return `The server answered ${status}`;
}

async function getJson(url) {
  const res = await fetch(url, { headers: { accept: "application/json" } });
  const body = await res.json().catch(() => undefined);
  if (!res.ok) throw new ApiFailure(res.status, body);
  return body;
}

async function postJson(url, body) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => undefined) };
}

function showError(container, message) {
  container.replaceChildren(el("p", { className: "error", role: "alert" }, message));
}

function isSnapshot(version) {
  return version.toUpperCase().endsWith("SNAPSHOT");
}

// --- choosing a device

async function loadVersions() {
  let overview;
  try {
    overview = await getJson("/json/v1/overview.json");
  } catch (error) {
    versionSelect.replaceChildren(el("option", { value: "" }, "Versions unavailable"));
    showError(byId("changes-body"), error.message);
    byId("changes").hidden = false;
    return;
  }
  const groups = Object.values(overview.branches)
    .filter((branch) => branch.enabled && branch.versions.length > 0)
    .map((branch) =>
      el(
        "optgroup",
        { label: branch.name },
        branch.versions.map((version) =>
          el("option", { value: version }, isSnapshot(version) ? `${version} (snapshot)` : version),
        ),
      ),
    );
  versionSelect.replaceChildren(el("option", { value: "" }, "Choose a version"), ...groups);
  const asked = new URLSearchParams(location.search).get("version");
  const stable = overview.latest.find((version) => !version.includes("-rc")) ?? overview.latest[0];
  const all = [...versionSelect.querySelectorAll("option")].map((option) => option.value);
  versionSelect.value = asked && all.includes(asked) ? asked : (stable ?? "");
  await versionChanged();
}

async function versionChanged() {
  const version = versionSelect.value;
  const previous = targetSelect.value || new URLSearchParams(location.search).get("target");
  clearDevices();
  targetSelect.disabled = true;
  targetSelect.replaceChildren();
  if (!version) return;
  let answer;
  try {
    answer = await getJson(`/api/v1/targets/${encodeURIComponent(version)}`);
  } catch (error) {
    targetSelect.replaceChildren(el("option", { value: "" }, error.message));
    return;
  }
  if (versionSelect.value !== version) return;
  if (answer.targets.length === 0) {
    targetSelect.replaceChildren(el("option", { value: "" }, "No targets published yet"));
    return;
  }
  targetSelect.replaceChildren(
    el("option", { value: "" }, "Choose a target"),
    ...answer.targets.map((target) => el("option", { value: target }, target)),
  );
  targetSelect.disabled = false;
  if (previous && answer.targets.includes(previous)) {
    targetSelect.value = previous;
    await targetChanged();
  }
}

function clearDevices() {
  state.devices = undefined;
  profileSelect.replaceChildren();
  profileSelect.disabled = true;
  searchInput.disabled = true;
  byId("device-count").textContent = "";
  packagesInput.value = "";
  packagesInput.disabled = true;
  packagesChanged();
}

async function targetChanged() {
  const version = versionSelect.value;
  const target = targetSelect.value;
  clearDevices();
  if (!version || !target) return;
  byId("device-count").textContent = "Loading devices…";
  let devices;
  try {
    devices = await getJson(
      `/api/v1/profiles/${encodeURIComponent(version)}/${target.split("/").map(encodeURIComponent).join("/")}`,
    );
  } catch (error) {
    byId("device-count").textContent = error.message;
    return;
  }
  if (versionSelect.value !== version || targetSelect.value !== target) return;
  state.devices = devices;
  searchInput.disabled = false;
  profileSelect.disabled = false;
  renderDevices();
}

function deviceName(profile) {
  return profile.titles.join(" / ");
}

function renderDevices() {
  const devices = state.devices;
  if (!devices) return;
  const words = searchInput.value.toLowerCase().split(/\s+/).filter(Boolean);
  const chosen = profileSelect.value;
  const shown = devices.profiles.filter((profile) => {
    const text = [...profile.titles, profile.id, ...profile.supported_devices]
      .join(" ")
      .toLowerCase();
    return words.every((word) => text.includes(word));
  });
  profileSelect.replaceChildren(
    ...shown.map((profile) =>
      el("option", { value: profile.id, selected: profile.id === chosen }, deviceName(profile)),
    ),
  );
  const total = devices.profiles.length;
  byId("device-count").textContent =
    shown.length === total ? `${total} devices` : `${shown.length} of ${total} devices match`;
  if (shown.length === 1 && profileSelect.value !== shown[0].id) {
    profileSelect.value = shown[0].id;
    deviceChosen();
  }
}

/** The image's packages as the ImageBuilder would pick them: defaults, then the device's. */
function devicePackages(profile) {
  const packages = [...state.devices.default_packages];
  for (const name of profile.device_packages) {
    if (name.startsWith("-")) {
      const at = packages.indexOf(name.slice(1));
      if (at !== -1) packages.splice(at, 1);
    } else if (!packages.includes(name)) {
      packages.push(name);
    }
  }
  return packages;
}

function deviceChosen() {
  const profile = state.devices?.profiles.find((item) => item.id === profileSelect.value);
  if (!profile) return;
  packagesInput.value = devicePackages(profile).join(" ");
  packagesInput.disabled = false;
  packagesChanged();
}

// --- prepare: what the server would change

function currentRequest() {
  return {
    version: versionSelect.value,
    target: targetSelect.value,
    profile: profileSelect.value,
    packages: packagesInput.value.split(/[\s,]+/).filter(Boolean),
    // The list is the whole image: a default package deleted here is left out.
    diff_packages: true,
    client: "asu-build-page",
  };
}

function requestKey(request) {
  return JSON.stringify(request);
}

function packagesChanged() {
  state.prepared = undefined;
  const ready = Boolean(profileSelect.value && !packagesInput.disabled);
  prepareButton.disabled = !ready;
  buildButton.disabled = !ready;
  byId("changes").hidden = true;
}

function changeText(change) {
  const from = change.from_package;
  const to = change.to_package;
  if (change.action === "replace") return `${from} → ${to}`;
  if (change.action === "add") return `adds ${to}`;
  if (change.action === "remove") return `removes ${from}`;
  return [from, to].filter(Boolean).join(" → ");
}

function renderChanges(answer) {
  const body = byId("changes-body");
  const parts = [];
  if (answer.changes.length === 0) {
    parts.push(el("p", {}, "Nothing: the packages are built as listed."));
  } else {
    parts.push(
      el(
        "ul",
        { className: "changes" },
        answer.changes.map((change) =>
          el(
            "li",
            { "data-change": change.type },
            el("strong", {}, changeText(change)),
            ` — ${change.reason}`,
          ),
        ),
      ),
    );
  }
  const problems = answer.problems ?? [];
  if (problems.length > 0) parts.push(renderProblems(problems));
  if (answer.cache_available) {
    parts.push(el("p", {}, "These images are already built: they are ready at once."));
  }
  body.replaceChildren(...parts);
  byId("changes").hidden = false;
}

// --- problems: packages the indexes cannot supply, with one-click replacements

const PROBLEM_TITLES = {
  not_found: "not found",
  version_unavailable: "version not available",
  removed_in_version: "removed in this version",
  unknown: "could not be checked",
};

/** Problems that make the build fail for certain; `unknown` ones may still build. */
function blockingProblems(answer) {
  return (answer?.problems ?? []).filter((problem) => problem.reason !== "unknown");
}

/** The packages field with one name swapped for another (or added when it is not listed). */
function replacePackage(from, to) {
  const names = packagesInput.value.split(/[\s,]+/).filter(Boolean);
  const at = names.indexOf(from);
  if (at === -1) names.push(to);
  else names.splice(at, 1, ...(names.includes(to) ? [] : [to]));
  packagesInput.value = names.join(" ");
  packagesChanged();
  previewChanges();
}

function renderProblems(problems) {
  const blocking = problems.some((problem) => problem.reason !== "unknown");
  return el(
    "div",
    { className: blocking ? "problems error" : "problems notice" },
    el(
      "p",
      {},
      blocking
        ? "These packages would make the build fail. Choose a replacement or remove them before requesting the build:"
        : "These packages could not be checked; the build may still succeed:",
    ),
    el(
      "ul",
      {},
      problems.map((problem) =>
        el(
          "li",
          { "data-problem": problem.reason, "data-package": problem.package },
          el("strong", {}, problem.package),
          ` — ${PROBLEM_TITLES[problem.reason] ?? problem.reason}: ${problem.detail}`,
          problem.suggestions.length > 0 ? " Use " : "",
          problem.suggestions.map((name) =>
            el(
              "button",
              {
                type: "button",
                className: "suggestion",
                "aria-label": `Use ${name} instead of ${problem.package}`,
                onclick: () => replacePackage(problem.package, name),
              },
              name,
            ),
          ),
        ),
      ),
    ),
  );
}

/**
 * Asks the prepare tier. Resolves to its answer, or undefined when it cannot
 * be reached (the build tier then applies the same rules by itself).
 */
async function prepare() {
  const request = currentRequest();
  const key = requestKey(request);
  if (state.prepared?.key === key) return state.prepared.answer;
  const body = byId("changes-body");
  body.replaceChildren(el("p", {}, "Checking…"));
  byId("changes").hidden = false;
  let answer;
  try {
    answer = await postJson(`${prepareBase}/api/v1/build/prepare`, request);
  } catch {
    answer = undefined;
  }
  if (!answer || answer.status >= 500 || answer.status === 404) {
    body.replaceChildren(
      el(
        "p",
        { className: "notice" },
        "The package preview is not available right now. The build server applies the same package rules when it builds.",
      ),
    );
    return undefined;
  }
  if (answer.status !== 200) throw new ApiFailure(answer.status, answer.body);
  state.prepared = { key, answer: answer.body };
  renderChanges(answer.body);
  return answer.body;
}

// --- build and progress

function setBusy(busy) {
  prepareButton.disabled = busy;
  buildButton.disabled = busy;
}

function renderStages(current, failed) {
  const at = STAGES.findIndex(([stage]) => stage === current);
  byId("stages").replaceChildren(
    ...STAGES.map(([stage, label], index) => {
      const item = el("li", { "data-stage": stage }, label);
      if (index < at || current === "done") item.className = "done";
      if (index === at && !failed) item.setAttribute("aria-current", "step");
      return item;
    }),
  );
}

function renderCountdown() {
  const line = byId("progress-eta");
  if (state.etaDeadline === undefined) {
    line.hidden = true;
    return;
  }
  const left = Math.round((state.etaDeadline - Date.now()) / 1000);
  line.hidden = false;
  if (left <= 0) line.textContent = "Should be done any moment now.";
  else if (left < 90) line.textContent = `About ${left} s left.`;
  else line.textContent = `About ${Math.round(left / 60)} min left.`;
}

/** Counts down between polls from the server's estimate; every answer sets it anew. */
function setCountdown(etaSeconds) {
  clearInterval(state.etaTimer);
  state.etaTimer = undefined;
  state.etaDeadline = typeof etaSeconds === "number" ? Date.now() + etaSeconds * 1000 : undefined;
  renderCountdown();
  if (state.etaDeadline !== undefined) state.etaTimer = setInterval(renderCountdown, 1000);
}

function showProgress(text, stage) {
  byId("progress").hidden = false;
  byId("progress-text").textContent = text;
  renderStages(stage, false);
}

function showFailure(status, body) {
  byId("progress").hidden = false;
  byId("progress-text").textContent = "The build failed.";
  renderStages(body?.imagebuilder_status ?? "", true);
  const parts = [el("p", { className: "error", role: "alert" }, describeError(status, body))];
  for (const stream of ["stdout", "stderr"]) {
    if (body?.[stream]) {
      parts.push(
        el("details", {}, el("summary", {}, stream), el("pre", { className: "log" }, body[stream])),
      );
    }
  }
  byId("result-heading").textContent = "Build failed";
  byId("result-body").replaceChildren(...parts);
  byId("result").hidden = false;
}

function showImages(body) {
  byId("progress-text").textContent =
    `Built ${body.version_number ?? ""} ${body.version_code ?? ""} for ${body.id}.`;
  renderStages("done", false);
  const rows = (body.images ?? []).map((image) =>
    el(
      "tr",
      {},
      el("td", {}, image.type),
      el("td", {}, image.filesystem ?? ""),
      el(
        "td",
        {},
        el(
          "a",
          {
            href: `/store/${encodeURIComponent(body.bin_dir)}/${encodeURIComponent(image.name)}`,
            download: image.name,
          },
          image.name,
        ),
      ),
      el("td", {}, el("code", { className: "sha" }, image.sha256)),
    ),
  );
  const manifest = Object.entries(body.manifest ?? {}).map(([name, version]) =>
    el("tr", {}, el("td", {}, name), el("td", {}, version)),
  );
  byId("result-heading").textContent = "Images";
  byId("result-body").replaceChildren(
    el(
      "div",
      { className: "table-scroll" },
      el(
        "table",
        { id: "images" },
        el(
          "caption",
          { className: "muted" },
          `Built ${body.build_at ?? ""}; check each download against its sha256.`,
        ),
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            el("th", { scope: "col" }, "Type"),
            el("th", { scope: "col" }, "Filesystem"),
            el("th", { scope: "col" }, "File"),
            el("th", { scope: "col" }, "sha256"),
          ),
        ),
        el("tbody", {}, rows),
      ),
    ),
    el(
      "details",
      {},
      el("summary", {}, `Installed packages (${manifest.length})`),
      el("div", { className: "table-scroll" }, el("table", {}, el("tbody", {}, manifest))),
    ),
  );
  byId("result").hidden = false;
}

/** One build answer: 200 done, 202 still going (poll again), anything else failed. */
function handleAnswer(run, status, body) {
  if (run !== state.buildRun) return;
  setCountdown(status === 202 ? body?.eta_seconds : undefined);
  if (status === 200) {
    setBusy(false);
    showImages(body);
    return;
  }
  if (status === 202) {
    const stage = body.imagebuilder_status ?? (body.detail === "queued" ? "" : "init");
    const text =
      body.detail === "queued"
        ? `Waiting in the queue: ${body.queue_position === 0 ? "next" : `${body.queue_position} ahead`}.`
        : `Building: ${STAGES.find(([name]) => name === stage)?.[1] ?? stage}.`;
    showProgress(text, stage);
    state.pollTimer = setTimeout(() => poll(run, body.request_hash), POLL_MS);
    return;
  }
  setBusy(false);
  showFailure(status, body);
}

async function poll(run, hash) {
  if (run !== state.buildRun) return;
  try {
    const res = await fetch(`/api/v1/build/${encodeURIComponent(hash)}`, {
      headers: { accept: "application/json" },
    });
    handleAnswer(run, res.status, await res.json().catch(() => undefined));
  } catch {
    // A dropped connection is no failed build: ask again.
    state.pollTimer = setTimeout(() => poll(run, hash), POLL_MS);
  }
}

async function requestBuild(event) {
  event.preventDefault();
  if (buildButton.disabled) return;
  clearTimeout(state.pollTimer);
  setCountdown(undefined);
  const run = ++state.buildRun;
  setBusy(true);
  byId("result").hidden = true;
  showProgress("Sending the request…", "");
  try {
    const prepared = await prepare();
    // A selection the indexes cannot supply is shown with its fixes, not sent to fail.
    if (blockingProblems(prepared).length > 0) {
      setBusy(false);
      byId("progress").hidden = true;
      byId("changes").scrollIntoView?.({ block: "nearest" });
      return;
    }
    const answer = prepared
      ? await postJson("/api/v1/build?skip_package_resolution=true", prepared.prepared_request)
      : await postJson("/api/v1/build", currentRequest());
    handleAnswer(run, answer.status, answer.body);
  } catch (error) {
    setBusy(false);
    if (error instanceof ApiFailure) showFailure(error.status, error.body);
    else showFailure(0, { detail: `The server cannot be reached: ${error.message}` });
  }
}

async function previewChanges() {
  setBusy(true);
  try {
    await prepare();
  } catch (error) {
    showError(byId("changes-body"), error.message);
    byId("changes").hidden = false;
  } finally {
    setBusy(false);
  }
}

versionSelect.addEventListener("change", versionChanged);
targetSelect.addEventListener("change", targetChanged);
searchInput.addEventListener("input", renderDevices);
// Enter in the search box picks the first match instead of sending the form.
searchInput.addEventListener("keydown", (event) => {
  if (event.key !== "Enter") return;
  event.preventDefault();
  const first = profileSelect.options[0];
  if (first && profileSelect.value !== first.value) {
    profileSelect.value = first.value;
    deviceChosen();
  }
});
profileSelect.addEventListener("change", deviceChosen);
packagesInput.addEventListener("input", packagesChanged);
prepareButton.addEventListener("click", previewChanges);
form.addEventListener("submit", requestBuild);
loadVersions();
