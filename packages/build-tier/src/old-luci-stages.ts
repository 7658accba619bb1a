import type { BuildAnswer } from "./build-answer.ts";

/*
 * luci-app-attendedsysupgrade indexes its progress table with the 202's
 * `imagebuilder_status`, unguarded. Up to openwrt-23.05 (and master before
 * the table grew) the table has five stages only; an unknown one throws and
 * the page stops following the build. Such a LuCI sees its five stages.
 */

/** The five stages an old LuCI's progress table knows. */
export const OLD_LUCI_STAGES = [
  "init",
  "download_imagebuilder",
  "unpack_imagebuilder",
  "calculate_packages_hash",
  "building_image",
] as const;
export type OldLuciStage = (typeof OLD_LUCI_STAGES)[number];

/**
 * Each 202 status this server sends, as the nearest stage an old LuCI knows
 * (by what happens then and by its progress percentage). `queued` too: the
 * app's rebuilder view indexes the table with it.
 */
export const OLD_LUCI_STAGE_MAP: Readonly<Record<string, OldLuciStage>> = {
  queued: "init",
  init: "init",
  container_setup: "download_imagebuilder",
  validate_revision: "unpack_imagebuilder",
  validate_manifest: "calculate_packages_hash",
  building_image: "building_image",
};

/**
 * LuCI's `client` is `luci/` and the package version of
 * luci-app-attendedsysupgrade, which luci.mk makes from the date of the
 * package's last commit: `git-YY.DDD.SSSSS-<hash>` before luci.mk became
 * APK-compliant (March 2024), `YY.DDD.SSSSS~<hash>` since. The progress
 * table gained `container_setup`, `validate_revision` and `validate_manifest`
 * in the commit of 24.290.85088 ("update status keys and messages"): every
 * version before it lacks them, and every `git-` version is before it.
 */
export const LUCI_STAGES_SINCE = "24.290.85088";

const LUCI_VERSION = /^luci\/(git-)?(\d{2})\.(\d{3})\.(\d{5})[-~]/;

const versionNumbers = (version: string) => version.split(".").map(Number);

/** Whether a request's `client` is a LuCI whose progress table lacks this server's stages. */
export function isOldLuci(client: string | null | undefined): boolean {
  const match = client ? LUCI_VERSION.exec(client) : null;
  if (!match) return false;
  if (match[1]) return true;
  const own = [match[2], match[3], match[4]].map(Number);
  const since = versionNumbers(LUCI_STAGES_SINCE);
  for (let i = 0; i < since.length; i++) {
    if (own[i] !== since[i]) return (own[i] ?? 0) < (since[i] ?? 0);
  }
  return false;
}

/** A 202 answer as an old LuCI can follow it; other answers unchanged. */
export function answerForOldLuci<T extends Pick<BuildAnswer, "status" | "headers">>(
  answer: T & { body?: Record<string, unknown> },
): T {
  if (answer.status !== 202 || !answer.body) return answer;
  const shown = answer.body.imagebuilder_status;
  const stage = OLD_LUCI_STAGE_MAP[String(shown)] ?? "init";
  return {
    ...answer,
    body: { ...answer.body, imagebuilder_status: stage },
    headers: { ...answer.headers, "X-Imagebuilder-Status": stage },
  };
}
