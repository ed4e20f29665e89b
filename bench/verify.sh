#!/usr/bin/env bash
# Full verification of a repository: `walvault verify` against pgBackRest `verify` on the same data, and
# against `zstd -t` over every object of walvault's repository with the same parallelism (the decode limit:
# verify cannot do less than decode everything once).
# Builds a pgbench database (pgbench -i -s SCALE), stops it and copies it once per tool; each copy archives
# with its own tool (pgBackRest: archive_command = 'pgbackrest ... archive-push %p', compress-type=zst;
# walvault: archive_library = 'walvault', zstd:3), takes one full backup (pgBackRest --process-max=2,
# walvault --parallel 2) and then runs the same WAL_ROUNDS rounds of "UPDATE a quarter of pgbench_accounts"
# (about 100 MB of WAL per round at scale 20), so both repositories hold one backup and the same WAL.
# Then, RUNS times after one warm-up run (so both read from the page cache: what is measured is the work of
# checking, not the disk), in alternating order:
#   walvault verify --parallel 2                 (must exit 0: no problems)
#   pgbackrest verify --process-max=2            (must report no errors)
#   find REPO -type f -name '*.zst*' | xargs -P 2 zstd -t -q
# and prints the medians, the ratios pgBackRest/walvault (target >= 2) and walvault/zstd -t (target <= 1.3),
# and the bytes each repository holds.
# Usage: bench/verify.sh     Settings: SCALE (20), WAL_ROUNDS (6), RUNS (5), BENCH_DIR, BENCH_USER, BENCH_PORT,
# BENCH_BUILD (yes; "no" uses the installed walvault), WALVAULT_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=${SCALE:-20}
WAL_ROUNDS=${WAL_ROUNDS:-6}
RUNS=${RUNS:-5}
BENCH_DIR=${BENCH_DIR:-/tmp/walvault-bench-verify}
BENCH_USER=${BENCH_USER:-postgres}
PORT=${BENCH_PORT:-54352}
# shellcheck source=bench/lib.sh
. bench/lib.sh

trap stop_bench_clusters EXIT
stop_bench_clusters
fresh_bench_dir
pin_walvault
pgbr_conf=$BENCH_DIR/pgbackrest.conf
conninfo="host=$BENCH_DIR port=$PORT dbname=postgres"

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(pgbackrest version); $("$walvault" --version); zstd $(zstd -V | grep -o 'v[0-9.]*'); load average $(cut -d' ' -f1-3 /proc/loadavg)"

t0=$(date +%s)
dir=$BENCH_DIR/template
as_user "$bindir/initdb" -D "$dir" -A trust >/dev/null
cat >> "$dir/postgresql.conf" <<CONF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$BENCH_DIR'
archive_mode = off
max_wal_size = '8GB'
checkpoint_timeout = '1h'
autovacuum = off
log_min_messages = error
CONF
pgctl "$dir" start
as_user "$bindir/pgbench" -h "$BENCH_DIR" -p "$PORT" -i -s "$SCALE" -q postgres >/dev/null 2>&1
sql "CHECKPOINT" >/dev/null
pgctl "$dir" stop -m fast
for c in walvault pgbackrest; do
    as_user cp -a "$dir" "$BENCH_DIR/$c"
    as_user mkdir -m 0700 "$BENCH_DIR/repo-$c"
done

write_pgbackrest_conf "$pgbr_conf" "$BENCH_DIR/pgbackrest" repo1-retention-full=9999
cat >> "$BENCH_DIR/pgbackrest/postgresql.conf" <<CONF
archive_mode = on
archive_command = 'pgbackrest --config=$pgbr_conf --stanza=bench archive-push %p'
CONF
cat >> "$BENCH_DIR/walvault/postgresql.conf" <<CONF
shared_preload_libraries = 'walvault'
archive_mode = on
archive_library = 'walvault'
walvault.repo = '$BENCH_DIR/repo-walvault'
walvault.compression = 'zstd:3'
walvault.parallel = 2
CONF

# Waits until the server has archived everything up to its current segment.
wait_archived() {
    local tries=0
    until [ "$(sql "SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'")" = 0 ]; do
        sleep 0.2
        tries=$((tries + 1))
        [ "$tries" -lt 3000 ] || { echo "$1 did not archive its WAL" >&2; exit 1; }
    done
}

for c in pgbackrest walvault; do
    pgctl "$BENCH_DIR/$c" start
    if [ "$c" = pgbackrest ]; then
        as_user pgbackrest --config="$pgbr_conf" --stanza=bench stanza-create >/dev/null
        as_user pgbackrest --config="$pgbr_conf" --stanza=bench backup --type=full --start-fast --process-max=2 \
            >/dev/null
    else
        as_user "$walvault" backup --repo "$BENCH_DIR/repo-walvault" --dbname "$conninfo" --label bench \
            --parallel 2 --checkpoint fast --compression zstd:3 >/dev/null
    fi
    for ((r = 1; r <= WAL_ROUNDS; r++)); do
        sql "UPDATE pgbench_accounts SET abalance = abalance + $r WHERE aid % 4 = $((r % 4))" >/dev/null
        sql "CHECKPOINT" >/dev/null  # full-page images again in the next round, as a busy server has them
    done
    sql "SELECT pg_switch_wal()" >/dev/null
    wait_archived "$c"
    pgctl "$BENCH_DIR/$c" stop -m fast
done
wal_segments() { find "$1" -type f -name '0000000*' ! -name '*.backup*' ! -name '*.history*' | wc -l; }
echo "== pgbench -i -s $SCALE, one full backup, $WAL_ROUNDS rounds of updates: walvault $(du -sm "$BENCH_DIR/repo-walvault" | cut -f1) MB ($(find "$BENCH_DIR/repo-walvault" -type f | wc -l) objects, $(wal_segments "$BENCH_DIR/repo-walvault/wal") WAL segments), pgBackRest $(du -sm "$BENCH_DIR/repo-pgbackrest" | cut -f1) MB ($(wal_segments "$BENCH_DIR/repo-pgbackrest/archive") WAL segments); ready in $(($(date +%s) - t0)) s"

# One timed run of one checker; prints wall seconds, fails loudly if the checker found anything.
run_one() {
    local what=$1 log=$BENCH_DIR/$1.log start end
    sync
    start=$(date +%s.%N)
    case $what in
    walvault)
        as_user "$walvault" verify --repo "$BENCH_DIR/repo-walvault" --parallel 2 >"$log" 2>&1 ||
            { echo "walvault verify failed:" >&2; tail -n 20 "$log" >&2; exit 1; }
        ;;
    pgbackrest)
        as_user pgbackrest --config="$pgbr_conf" --stanza=bench --process-max=2 --log-level-console=info verify \
            >"$log" 2>&1 || { echo "pgbackrest verify failed:" >&2; tail -n 20 "$log" >&2; exit 1; }
        # pgBackRest verify exits 0 even when it finds damage: read its result line.
        grep -q 'ERROR\|WARN' "$log" && { echo "pgbackrest verify reported problems:" >&2; cat "$log" >&2; exit 1; }
        ;;
    zstd)
        find "$BENCH_DIR/repo-walvault" -type f -name '*.zst*' -print0 | xargs -0 -P 2 -n 8 zstd -t -q >"$log" 2>&1 ||
            { echo "zstd -t failed:" >&2; tail -n 20 "$log" >&2; exit 1; }
        ;;
    esac
    end=$(date +%s.%N)
    echo "$end - $start" | bc -l
}
median() { tr -s ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

for w in walvault pgbackrest zstd; do run_one "$w" >/dev/null; done  # warm-up: the page cache holds both repositories
declare -A times=()
for ((run = 1; run <= RUNS; run++)); do
    order="walvault pgbackrest zstd"
    [ $((run % 2)) -eq 1 ] || order="zstd pgbackrest walvault"
    for w in $order; do times[$w]="${times[$w]:-} $(run_one "$w")"; done
done
grep -h '^verified' "$BENCH_DIR/walvault.log"
wv=$(echo "${times[walvault]}" | median)
pb=$(echo "${times[pgbackrest]}" | median)
zt=$(echo "${times[zstd]}" | median)
printf 'walvault verify     %6.2f s   (runs:%s)\n' "$wv" "${times[walvault]}"
printf 'pgbackrest verify   %6.2f s   (runs:%s)\n' "$pb" "${times[pgbackrest]}"
printf 'zstd -t, 2 at once  %6.2f s   (runs:%s)\n' "$zt" "${times[zstd]}"
printf 'pgBackRest / walvault: %.2fx (target >= 2); walvault / zstd -t: %.2fx (target <= 1.3)\n' \
    "$(echo "$pb / $wv" | bc -l)" "$(echo "$wv / $zt" | bc -l)"
