#!/usr/bin/env bash
# Builds walvault and installs the module, extension and tool into the PostgreSQL that pg_config names.
set -euo pipefail
cd "$(dirname "$0")/.."
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
make -j"$(nproc)" all >/dev/null
$sudo make install >/dev/null
