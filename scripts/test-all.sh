#!/usr/bin/env bash
# The one command that runs every test on a machine that has only Node and
# npm (an older Node too: the tests run on the project's Node 24): it installs
# pnpm and the system packages the tests need, installs the workspace, checks
# lint and types, and runs the unit, end-to-end and deployment tests.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

if ! command -v pnpm >/dev/null 2>&1; then
  log "installing pnpm"
  npm install -g pnpm@10
fi

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
# The test-double ImageBuilder image is built from Debian's static busybox.
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
# Browser tests drive Debian's Chromium through playwright-core.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# The deployment test builds the images on a debootstrapped base and runs the compose stacks.
command -v podman-compose >/dev/null 2>&1 || missing+=(podman-compose)
# The deployment test makes a test CA and certificate for its TLS stand-in.
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# The build network's host guard (pnpm start installs it; its tests check it) is an nftables table.
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || missing+=(nftables)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
if ((${#missing[@]})); then
  log "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

log "installing workspace"
# Also installs the `node` devDependency: pnpm scripts below run on its
# Node 24, whatever node this machine has.
pnpm install --frozen-lockfile
log "scripts run on Node $(pnpm exec node --version)"

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
