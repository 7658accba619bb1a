// Keeps the queue length and workers online on the home page current.
const REFRESH_MS = 10_000;

async function refresh() {
  const queue = document.querySelector('[data-live="queue"]');
  const workers = document.querySelector('[data-live="workers"]');
  if (!queue || !workers) return;
  try {
    const res = await fetch("/health", { headers: { accept: "application/json" } });
    if (!res.ok) return;
    const health = await res.json();
    if (health.queue && typeof health.queue.waiting === "number") {
      queue.textContent = String(health.queue.waiting);
    }
    if (health.workers) {
      const busy = health.workers.busy > 0 ? ` (${health.workers.busy} building)` : "";
      workers.textContent = `${health.workers.online}${busy}`;
    }
  } catch {
    // Offline for a moment: the numbers shown stay until the next try.
  }
}

setInterval(refresh, REFRESH_MS);
