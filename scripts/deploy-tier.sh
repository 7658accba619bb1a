#!/bin/sh
# Deploys one tier for its container image: `scripts/deploy-tier.sh @asu/build-api /app`
# leaves in /app the tier's package with its production dependencies, exactly
# as locked, ready for `node src/main.ts`.
#
# `pnpm deploy` copies the workspace packages the tier imports into
# node_modules/.pnpm/<entry>/node_modules/@asu/<name>. Node strips TypeScript
# types only outside node_modules, so each copy moves to <out>/workspace/<name>
# and its place becomes a link there; <out>/workspace/<name>/node_modules links
# back to the entry's node_modules, where pnpm put that package's own
# dependencies. Node resolves links to real paths, so it runs the sources as
# they are: no tsx, no compile step.
set -eu
tier=$1
out=$2

# Injected workspace packages make `deploy` install from the shared lockfile (pnpm 10).
pnpm --filter "$tier" deploy --prod --offline --config.inject-workspace-packages=true "$out"

mkdir -p "$out/workspace"
for copy in "$out"/node_modules/.pnpm/@asu+*/node_modules/@asu/*; do
  # The other @asu entries there are links to their own entries' copies.
  [ -L "$copy" ] && continue
  name=$(basename "$copy")
  entry=$(dirname "$(dirname "$copy")")
  mv "$copy" "$out/workspace/$name"
  ln -sr "$out/workspace/$name" "$copy"
  # pnpm's copy may carry a node_modules of its own holding only bin shims.
  rm -rf "$out/workspace/$name/node_modules"
  ln -sr "$entry" "$out/workspace/$name/node_modules"
done
