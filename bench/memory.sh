#!/usr/bin/env bash
# Archiver memory benchmark (issue 5, target 5). A cluster builds a backlog of SEGMENTS WAL segments with
# archiving paused (walvault loaded, walvault.repo empty), then the repository is set with a reload and
# the archiver works through the backlog with the largest supported look-ahead (walvault.parallel = 16, the maximum).
# The archiver's VmRSS is sampled every 0.2 s, and its VmHWM (the kernel's own peak) read at the end;
# then a second round of ROUNDS x SEGMENTS more segments shows whether resident memory grows with the
# number of files archived. Prints one line per figure against the 64 MiB target.
# Usage: bench/memory.sh   Settings: SEGMENTS (default 500), ROUNDS (default 3), KIND (compressible |
# incompressible | empty; default compressible), PARALLEL (default 16), BENCH_DIR, BENCH_USER,
# REPO (posix | s3; default posix: a directory; s3: a bucket of an s3rver over HTTPS on 127.0.0.1, see
# start_s3rver in bench/lib.sh; s3rver runs as a separate process and is not counted), ENCRYPT (0 | 1;
# default 0; 1: the archiver encrypts, walvault.encryption_recipients set with the repository to an age key
# made for the run, as docs/encryption.md describes).
set -euo pipefail
cd "$(dirname "$0")/.."

SEGMENTS=${SEGMENTS:-500}
ROUNDS=${ROUNDS:-3}
KIND=${KIND:-compressible}
PARALLEL=${PARALLEL:-16}
BENCH_DIR=${BENCH_DIR:-/tmp/walvault-bench-memory}
BENCH_USER=${BENCH_USER:-postgres}
PORT=${BENCH_PORT:-54349}
REPO=${REPO:-posix}
case $REPO in posix | s3) ;; *) echo "REPO must be posix or s3, not $REPO" >&2; exit 1 ;; esac
TARGET_MIB=64

# shellcheck source=bench/lib.sh
. bench/lib.sh
data=$BENCH_DIR/data

stop_all() {
    [ -f "$data/postmaster.pid" ] && as_user "$bindir/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
    stop_s3rver
}
trap stop_all EXIT
stop_all
fresh_bench_dir
encryption_setup
repo_conf="walvault.repo = '$BENCH_DIR/repo'"
if [ "$REPO" = s3 ]; then
    start_s3rver bench-memory
    repo_conf=$(walvault_s3_conf bench-memory repo)
fi
enc_note=""
if [ "$ENCRYPT" = 1 ]; then
    repo_conf+=$'\n'"walvault.encryption_recipients = '$AGE_RECIPIENT'"
    enc_note=", encrypted (age)"
fi

as_user "$bindir/initdb" -D "$data" -A trust >/dev/null
cat >> "$data/postgresql.conf" <<CONF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$BENCH_DIR'
shared_preload_libraries = 'walvault'
archive_mode = on
archive_library = 'walvault'
walvault.repo = ''
walvault.parallel = $PARALLEL
walvault.compression = 'zstd:3'
max_wal_size = '64GB'
checkpoint_timeout = '1h'
log_min_messages = error
CONF
as_user "$bindir/pg_ctl" -D "$data" -l "$BENCH_DIR/server.log" -w start >/dev/null
sql "CREATE EXTENSION walvault; CREATE EXTENSION pgcrypto; CREATE TABLE r (b bytea)" >/dev/null

# n segments of KIND, each closed with pg_switch_wal().
make_segments() {
    local n=$1 payload
    case $KIND in
        empty) payload="SELECT pg_logical_emit_message(false, 'bench', 'x')" ;;
        incompressible) payload="INSERT INTO r SELECT gen_random_bytes(1024) FROM generate_series(1, 15000)" ;;
        compressible) payload="INSERT INTO r SELECT convert_to(repeat(md5(g::text), 32), 'UTF8') FROM generate_series(1, 15000) g" ;;
        *) echo "unknown KIND $KIND" >&2; exit 1 ;;
    esac
    for _ in $(seq 1 "$n"); do
        sql "$payload; TRUNCATE r; SELECT pg_switch_wal()" >/dev/null
    done
}

archiver_pid() { sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'archiver'"; }
kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }

# Waits until nothing is pending; prints the largest VmRSS sampled (KiB).
drain() {
    local pid=$1 peak=0 rss pending
    while :; do
        rss=$(kib "$pid" VmRSS); [ "${rss:-0}" -gt "$peak" ] && peak=$rss
        pending=$(sql "SELECT pending_count FROM walvault_status()")
        [ "$pending" = 0 ] && break
        sleep 0.2
    done
    echo "$peak"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $("$bindir/walvault" --version); $KIND WAL, walvault.parallel = $PARALLEL, repository: $REPO$enc_note"
make_segments "$SEGMENTS"
ready=$(ls "$data/pg_wal/archive_status" | grep -c '\.ready$' || true)
pid=$(archiver_pid)
before=$(kib "$pid" VmRSS)
sed -i "/^walvault.repo = ''/d" "$data/postgresql.conf"
echo "$repo_conf" >> "$data/postgresql.conf"
start=$(date +%s.%N)
sql "SELECT pg_reload_conf()" >/dev/null
sampled=$(drain "$pid")
secs=$(echo "$(date +%s.%N) - $start" | bc -l)
[ "$(archiver_pid)" = "$pid" ] || { echo "the archiver restarted during the run" >&2; exit 1; }
hwm=$(kib "$pid" VmHWM)
if [ "$REPO" = s3 ]; then
    archived=$(s3_wal_objects bench-memory repo)
else
    archived=$(find "$BENCH_DIR/repo/wal" -name '0*.zst' | wc -l)
fi
[ "$archived" -ge "$ready" ] || { echo "only $archived of $ready segments archived" >&2; exit 1; }
[ "$ENCRYPT" = 0 ] || [ "$REPO" = s3 ] || check_encrypted "$BENCH_DIR/repo/wal"
printf 'backlog: %d segments in %.1f s; archiver RSS before %d MiB, peak sampled %d MiB, VmHWM %d MiB (target <= %d MiB)\n' \
    "$ready" "$secs" $((before / 1024)) $((sampled / 1024)) $((hwm / 1024)) "$TARGET_MIB"

# Steady state: the same archiver, more rounds; resident memory after each.
line="steady state, VmRSS after each further $SEGMENTS segments:"
for r in $(seq 1 "$ROUNDS"); do
    make_segments "$SEGMENTS"
    drain "$pid" >/dev/null
    line="$line $(( $(kib "$pid" VmRSS) / 1024 )) MiB"
done
[ "$(archiver_pid)" = "$pid" ] || { echo "the archiver restarted during the run" >&2; exit 1; }
echo "$line; VmHWM $(( $(kib "$pid" VmHWM) / 1024 )) MiB after $(( SEGMENTS * (ROUNDS + 1) )) segments"
stop_all
rm -rf "$BENCH_DIR"  # a repository of several GB: kept only when a run fails (its log is there)
