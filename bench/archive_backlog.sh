#!/usr/bin/env bash
# Archive-backlog benchmark. Builds a backlog of SEGMENTS WAL segments with archiving paused, copies the
# stopped cluster once per contender so each gets the same WAL, then switches archiving on and times how
# long each takes until pg_stat_archiver has archived them all:
#   archive_command = 'true'                  PostgreSQL's own cost
#   archive_command = 'cp %p DIR/%f'          the classic
#   pgBackRest, posix repo, zst, archive-async=y, process-max=2   the peer
#   walvault, posix repo, zstd:3, walvault.parallel = 2
# for incompressible WAL (random bytea) and compressible WAL (pgbench -i loop). Prints one line per
# figure with segments/s and the ratio against pgBackRest. Usage: bench/archive_backlog.sh
# Settings: SEGMENTS (default 100), KINDS ("incompressible compressible"), BENCH_DIR, BENCH_USER.
set -euo pipefail
cd "$(dirname "$0")/.."

SEGMENTS=${SEGMENTS:-100}
KINDS=${KINDS:-"incompressible compressible"}
BENCH_DIR=${BENCH_DIR:-/tmp/walvault-bench}
BENCH_USER=${BENCH_USER:-postgres}
PORT=${BENCH_PORT:-54339}

# shellcheck source=bench/lib.sh
. bench/lib.sh

stop_all() {
    for d in "$BENCH_DIR"/*/; do
        [ -f "$d/postmaster.pid" ] && as_user "$bindir/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1 || true
    done
}
trap stop_all EXIT
stop_all
fresh_bench_dir

# A cluster with a backlog of at least SEGMENTS .ready segments of the given kind, stopped.
make_template() {
    local kind=$1 dir=$BENCH_DIR/template
    rm -rf "$dir"
    as_user "$bindir/initdb" -D "$dir" -A trust >/dev/null
    cat >> "$dir/postgresql.conf" <<CONF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$BENCH_DIR'
shared_preload_libraries = 'walvault'
archive_mode = on
archive_command = ''
max_wal_size = '8GB'
checkpoint_timeout = '1h'
log_min_messages = error
CONF
    pgctl "$dir" start
    sql "CREATE EXTENSION pgcrypto; CREATE TABLE r (b bytea)" >/dev/null
    local ready=0
    while [ "$ready" -lt "$SEGMENTS" ]; do
        if [ "$kind" = incompressible ]; then
            sql "INSERT INTO r SELECT gen_random_bytes(1024) FROM generate_series(1, 20000)" >/dev/null
        else
            as_user "$bindir/pgbench" -h "$BENCH_DIR" -p "$PORT" -i -s 10 -q postgres >/dev/null 2>&1
        fi
        ready=$(ls "$dir/pg_wal/archive_status" | grep -c '\.ready$' || true)
    done
    pgctl "$dir" stop -m fast
    ls "$dir/pg_wal/archive_status" | grep -c '\.ready$'
}

# Copies the template, enables one archiver with a reload, and prints the seconds until all is archived.
run_contender() {
    local name=$1 dir=$BENCH_DIR/$1
    rm -rf "$dir" "$BENCH_DIR/repo-$name"
    as_user cp -a "$BENCH_DIR/template" "$dir"
    as_user mkdir -p "$BENCH_DIR/repo-$name"
    local target
    target=$(ls "$dir/pg_wal/archive_status" | grep -c '\.ready$')
    # Changing archive_library restarts the archiver, which PostgreSQL throttles to once per 10 s: load
    # the module at start with walvault.repo empty (not configured: the backlog waits), reload the repo.
    [ "$name" = walvault ] && echo "archive_library = 'walvault'" >> "$dir/postgresql.conf"
    pgctl "$dir" start
    local conf
    case $name in
        true) conf="archive_command = 'true'" ;;
        cp) conf="archive_command = 'test ! -f $BENCH_DIR/repo-cp/%f && cp %p $BENCH_DIR/repo-cp/%f'" ;;
        pgbackrest)
            # A fresh spool: status files left by an earlier run for the same segment names would make
            # archive-push report success without pushing anything.
            rm -rf "$BENCH_DIR/pgbackrest-spool" "$BENCH_DIR/pgbackrest-lock" "$BENCH_DIR/pgbackrest-log"
            cat > "$BENCH_DIR/pgbackrest.conf" <<CONF
[global]
repo1-path=$BENCH_DIR/repo-pgbackrest
spool-path=$BENCH_DIR/pgbackrest-spool
lock-path=$BENCH_DIR/pgbackrest-lock
log-path=$BENCH_DIR/pgbackrest-log
log-level-console=error
log-level-file=off
archive-async=y
process-max=2
compress-type=zst
[bench]
pg1-path=$dir
pg1-port=$PORT
pg1-socket-path=$BENCH_DIR
CONF
            chown "$BENCH_USER" "$BENCH_DIR/pgbackrest.conf" 2>/dev/null || true
            as_user pgbackrest --config="$BENCH_DIR/pgbackrest.conf" --stanza=bench stanza-create >/dev/null
            conf="archive_command = 'pgbackrest --config=$BENCH_DIR/pgbackrest.conf --stanza=bench archive-push %p'"
            ;;
        walvault)
            conf="walvault.repo = '$BENCH_DIR/repo-walvault'
walvault.compression = 'zstd:3'
walvault.parallel = 2"
            ;;
    esac
    echo "$conf" >> "$dir/postgresql.conf"
    local start end done_count=0
    start=$(date +%s.%N)
    sql "SELECT pg_reload_conf()" >/dev/null
    while [ "$done_count" -lt "$target" ]; do
        sleep 0.05
        done_count=$(sql "SELECT archived_count FROM pg_stat_archiver")
    done
    end=$(date +%s.%N)
    pgctl "$dir" stop -m immediate
    rm -rf "$dir"
    # Every contender that keeps files must have kept one per segment, or its figure means nothing.
    if [ "$name" != true ]; then
        local kept
        kept=$(find "$BENCH_DIR/repo-$name" -type f \( -name '0000*' \) | wc -l)
        [ "$kept" -ge "$target" ] || { echo "$name kept $kept files for $target segments" >&2; exit 1; }
    fi
    echo "$target $(echo "$end - $start" | bc -l)"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(pgbackrest version); $("$bindir/walvault" --version)"
for kind in $KINDS; do
    n=$(make_template "$kind")
    echo "== $kind WAL: backlog of $n segments"
    declare -A rate=()
    for c in true cp pgbackrest walvault; do
        read -r count secs < <(run_contender "$c")
        rate[$c]=$(echo "$count / $secs" | bc -l)
        stored=""
        [ -d "$BENCH_DIR/repo-$c" ] && stored=" stored $(du -sm "$BENCH_DIR/repo-$c" | cut -f1) MB"
        printf '%-11s %4d segments in %7.2f s = %7.1f seg/s%s\n' "$c" "$count" "$secs" "${rate[$c]}" "$stored"
    done
    printf 'ratio walvault/pgbackrest (%s): %.2fx   walvault/cp: %.2fx\n' "$kind" \
        "$(echo "${rate[walvault]} / ${rate[pgbackrest]}" | bc -l)" "$(echo "${rate[walvault]} / ${rate[cp]}" | bc -l)"
    unset rate
done
