/**
 * Feed names from a `feeds.conf` (`src-git packages https://…` → `packages`):
 * the second word of every line that has one, comments and blanks skipped.
 */
export function parseFeedsConf(text: string): string[] {
  const names: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const words = line.trim().split(/\s+/);
    if (words[0] === undefined || words[0] === "" || words[0].startsWith("#")) continue;
    if (words[1] !== undefined) names.push(words[1]);
  }
  return names;
}
