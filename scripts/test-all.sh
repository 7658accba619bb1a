#!/usr/bin/env bash
# The one command that runs every test on a machine that has only Node and
# npm (an older Node too: the tests run on the project's Node 24): it installs
# what is missing (scripts/install.sh), checks lint and types, and runs the
# unit, end-to-end and deployment tests.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

bash scripts/install.sh test

log "lint and format"
pnpm lint

log "typecheck"
pnpm typecheck

# Arguments (file filters, vitest flags) go to one run over every project.
if (($#)); then
  log "tests: $*"
  exec pnpm exec vitest run "$@"
fi
log "unit tests"
pnpm test:unit
log "end-to-end tests"
pnpm test:e2e
log "deployment test"
pnpm test:deployment
