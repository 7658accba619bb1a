import { readFileSync } from "node:fs";
import type { FakeUpstream } from "./fake-upstream.ts";

const FIXTURES = new URL("../fixtures/upstream/", import.meta.url);
const fixture = (path: string) => readFileSync(new URL(path, FIXTURES), "utf8");

/** test/fixtures/upstream's `.versions.json`, as the fake upstream serves it at first. */
export const FIXTURE_VERSIONS = JSON.parse(fixture(".versions.json"));

/**
 * What upstream does on release day, on the fake upstream: `version`'s
 * metadata (a copy of 24.10.0's ath79/generic) is published, then
 * `.versions.json` names it as the stable release.
 */
export function announceRelease(upstream: FakeUpstream, version: string): void {
  for (const path of [".targets.json", "targets/ath79/generic/profiles.json"]) {
    const text = fixture(`releases/24.10.0/${path}`).replaceAll("24.10.0", version);
    upstream.addFile(`releases/${version}/${path}`, text);
  }
  upstream.addFile(
    ".versions.json",
    JSON.stringify({
      ...FIXTURE_VERSIONS,
      stable_version: version,
      versions_list: [...FIXTURE_VERSIONS.versions_list, version],
    }),
  );
}

/** Back to the fixture's `.versions.json`, with `version`'s metadata gone. */
export function unannounceRelease(upstream: FakeUpstream, version: string): void {
  upstream.addFile(".versions.json", JSON.stringify(FIXTURE_VERSIONS));
  for (const path of [".targets.json", "targets/ath79/generic/profiles.json"]) {
    upstream.removeFile(`releases/${version}/${path}`);
  }
}
