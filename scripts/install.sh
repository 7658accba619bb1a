#!/usr/bin/env bash
# Installs what is missing on a machine that has only Node and npm: pnpm, the
# system packages (through apt-get) and the workspace. `start` installs what
# `pnpm start` needs, `test` also what the tests need; start.sh and
# test-all.sh both call it, so the two lists live here only.
set -euo pipefail
cd "$(dirname "$0")/.."

purpose="${1:-start}"
log() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
has() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

if ! command -v pnpm >/dev/null 2>&1; then
  log "installing pnpm"
  # npm, not corepack: corepack's download of pnpm can fail its signature check.
  if [ -w "$(npm prefix -g)" ]; then npm install -g pnpm@10; else as_root npm install -g pnpm@10; fi
fi

missing=()
need() { has "$1" || missing+=("$2"); }
# pnpm start runs a private Redis and Podman service, and guards the build
# network with an nftables table when it runs as root.
need redis-server redis-server
need podman podman
need runc runc
need nft nftables
if [ "$purpose" = test ]; then
  # The test-double ImageBuilder image is built from Debian's static busybox.
  dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
  # Browser tests drive Debian's Chromium through playwright-core.
  need chromium chromium
  # The deployment test builds images on a debootstrapped base, runs the
  # compose stacks and makes a test CA for its TLS stand-in.
  need podman-compose podman-compose
  need debootstrap debootstrap
  need openssl openssl
fi
if ((${#missing[@]})); then
  log "installing system packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

log "installing workspace"
# Also installs the `node` devDependency: pnpm scripts run on its Node 24,
# whatever node this machine has.
pnpm install --frozen-lockfile
log "scripts run on Node $(pnpm exec node --version)"
