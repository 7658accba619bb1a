#!/usr/bin/env bash
# The quick start: installs what is missing (scripts/install.sh) and starts
# the all-in-one server (`pnpm start`) with its embedded defaults. Arguments
# and settings in the environment go to the server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh start
printf '\n==> starting the server (pnpm start)\n'
exec pnpm start "$@"
