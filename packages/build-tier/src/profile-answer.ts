import type { ProfilesJson } from "@asu/openwrt-releases";

const MS_PER_SECOND = 1000;

/**
 * `source_date_epoch` (seconds, number or numeric text) as Python's
 * `strftime("%Y-%m-%dT%H:%M:%S.%fZ")` of the UTC time: six fraction digits,
 * always zero because the epoch is whole seconds. A missing or unreadable
 * epoch counts as 0, as `int(metadata.get("source_date_epoch", 0))` would
 * for a missing one.
 */
export function formatBuildAt(sourceDateEpoch: unknown): string {
  const seconds =
    typeof sourceDateEpoch === "number"
      ? Math.trunc(sourceDateEpoch)
      : typeof sourceDateEpoch === "string" && /^\s*[-+]?\d+\s*$/.test(sourceDateEpoch)
        ? Number.parseInt(sourceDateEpoch, 10)
        : 0;
  const date = new Date(Number.isFinite(seconds) ? seconds * MS_PER_SECOND : 0);
  const iso = Number.isNaN(date.getTime()) ? new Date(0).toISOString() : date.toISOString();
  // toISOString ends in `.sssZ`; Python prints microseconds.
  return `${iso.slice(0, -1)}000Z`;
}

/**
 * What `/json/v1/{path}/targets/{t}/{s}/{profile}.json` serves: profiles.json
 * without `profiles`, merged with that profile's entry, plus `id` and
 * `build_at`. The id must be a profile id (board names are not looked up),
 * and an unknown one gives `{}`, as in the Python server.
 */
export function profileAnswer(
  metadata: ProfilesJson | undefined,
  profile: string,
): Record<string, unknown> {
  if (!metadata?.profiles || !Object.hasOwn(metadata.profiles, profile)) return {};
  const { profiles, ...top } = metadata;
  return {
    ...top,
    ...profiles[profile],
    id: profile,
    build_at: formatBuildAt(metadata.source_date_epoch),
  };
}
