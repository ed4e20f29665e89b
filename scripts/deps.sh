#!/usr/bin/env bash
# Installs what walvault needs to build and test on Debian 12, from Debian's packages. Idempotent: it
# only calls apt-get when something is missing. systemd: for systemd-analyze, which checks the units of
# systemd/ (test/t/022_systemd_units.pl); nothing here starts it.
set -euo pipefail

packages=(
    build-essential g++ make pkg-config clang-format clang-tidy
    postgresql-15 postgresql-server-dev-15 postgresql-contrib libpq-dev
    libzstd-dev zstd libxxhash-dev xxhash libssl-dev libcurl4-openssl-dev nlohmann-json3-dev libpugixml-dev libcli11-dev
    libcrcutil-dev
    libgtest-dev libipc-run-perl
    awscli nodejs npm openssl python3 python3-botocore
    age  # the age CLI: test/unit/test_codec_age.cpp and test/t/026_encryption.pl check walvault against it
    systemd
    prometheus  # promtool, which checks walvault check --output prometheus (test/t/021_check.pl)
)

# The S3 test server, from npm, where the tests look for it (WALVAULT_NODE_DIR).
S3RVER_VERSION=3.7.1
NODE_DIR=${WALVAULT_NODE_DIR:-/opt/walvault-test}

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' && continue
    # node and npm may come from elsewhere (NodeSource) on a machine that has them already
    if [ "$p" = nodejs ] || [ "$p" = npm ]; then command -v "${p/nodejs/node}" >/dev/null && continue; fi
    missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "walvault: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! grep -qs "\"version\": \"$S3RVER_VERSION\"" "$NODE_DIR/node_modules/s3rver/package.json"; then
    echo "walvault: installing s3rver $S3RVER_VERSION into $NODE_DIR"
    $sudo mkdir -p "$NODE_DIR"
    (cd "$NODE_DIR" && $sudo npm install --no-audit --no-fund --loglevel=error "s3rver@$S3RVER_VERSION" >/dev/null)
fi
