#!/usr/bin/env bash
# Installs what walvault needs to build and test on Debian 12, from Debian's packages. Idempotent: it
# only calls apt-get when something is missing.
set -euo pipefail

packages=(
    build-essential g++ make pkg-config
    postgresql-15 postgresql-server-dev-15 postgresql-contrib libpq-dev
    libzstd-dev zstd libssl-dev libcurl4-openssl-dev nlohmann-json3-dev libpugixml-dev libcli11-dev
    libgtest-dev libipc-run-perl
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "walvault: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
