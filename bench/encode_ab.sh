#!/usr/bin/env bash
# Encoder A/B: the CPU time of the object codec alone (encode_file into a sink that discards), for two builds
# of core/, on the same input files, in alternating rounds. End-to-end benchmarks (archive_backlog.sh) vary by
# ±10 % between two runs of the same build on this machine; this one varies by ~2 %, so it shows whether a
# change to the codec costs anything.
# Usage: WALVAULT_TREE_B=/path/to/other/checkout bench/encode_ab.sh   (both trees built: build/libwalvault_core.a)
# Settings: MIB (size of each input file, default 128), ROUNDS (default 3; each prints the best of 7 encodes).
# Inputs: random bytes (incompressible) and repeated SQL text (compressible), frames of k_wal_frame_bytes, with
# zstd:3 and none.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${WALVAULT_TREE_B:?set WALVAULT_TREE_B to another walvault checkout with build/libwalvault_core.a}"
MIB=${MIB:-128}
ROUNDS=${ROUNDS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c $((MIB * 1024 * 1024)) /dev/urandom > "$work/random.bin"
head -c $((MIB * 1024 * 1024)) \
    < <(yes "INSERT INTO pgbench_accounts VALUES (42, 1, 0, 'filler text that compresses well');") > "$work/text.bin"
for tree in "$PWD" "$WALVAULT_TREE_B"; do
    [ -f "$tree/build/libwalvault_core.a" ] || { echo "$tree has no build/libwalvault_core.a: run make there" >&2; exit 1; }
done
g++ -std=c++20 -O2 -I"$PWD" -o "$work/enc_a" bench/src/encode_bench.cpp build/libwalvault_core.a -lzstd -lcrypto -lpthread
g++ -std=c++20 -O2 -I"$WALVAULT_TREE_B" -o "$work/enc_b" bench/src/encode_bench.cpp \
    "$WALVAULT_TREE_B/build/libwalvault_core.a" -lzstd -lcrypto -lpthread
echo "A: $PWD ($(git rev-parse --short HEAD))  B: $WALVAULT_TREE_B ($(git -C "$WALVAULT_TREE_B" rev-parse --short HEAD))"
for ((r = 1; r <= ROUNDS; r++)); do
    for side in a b; do
        for input in random text; do
            "$work/enc_$side" "$work/$input.bin" | sed "s|^$work/|round $r $side |"
        done
    done
done
