#!/usr/bin/env bash
# Archive-backlog benchmark. Builds a backlog of SEGMENTS WAL segments with archiving paused, copies the
# stopped cluster once per contender so each gets the same WAL, then switches archiving on and times how
# long each takes until pg_stat_archiver has archived them all:
#   archive_command = 'true'                  PostgreSQL's own cost
#   archive_command = 'cp %p DIR/%f'          the classic
#   pgBackRest, posix repo, zst, archive-async=y, process-max=2   the peer
#   walvault, posix repo, zstd:3, walvault.parallel = 2, and walvault-pN with walvault.parallel = N for each
#   N in MORE_PARALLEL (default "4 8"; 8 is walvault's default)
# for incompressible WAL (random bytea) and compressible WAL (pgbench -i loop). Prints one line per
# figure with segments/s and the ratio against pgBackRest. Usage: bench/archive_backlog.sh
# Settings: SEGMENTS (default 100), KINDS ("incompressible compressible"), BENCH_DIR, BENCH_USER,
# REPO (posix | s3; default posix), MORE_PARALLEL (default "4 8"), WALVAULT_BIN_B (an A/B of two builds of
# the module: the walvault.so of another build, run as one more contender, walvault_b, with
# walvault.parallel = 8, right after walvault-p8 in the same rounds; prints walvault-p8 / walvault_b).
#
# REPO=s3: the repositories are buckets of one s3rver over HTTPS on 127.0.0.1 (bench/lib.sh, start_s3rver),
# one bucket per contender: pgBackRest (repo1-type=s3, same options as above), the walvault contenders as
# above, and that server's raw ceiling measured in the same run: the same segment files sent as they are
# by N = 2 and 4 parallel `curl` streams (one connection each, a PUT per segment). Prints the ratios
# walvault/pgBackRest and walvault/ceiling (same parallelism, 4 streams for walvault above 4, and the best).
#
# ENCRYPT=1: encryption measured in the same run. Each walvault contender but walvault_b gets an encrypted
# twin, NAME-enc (the same settings and walvault.encryption_recipients = an age key made for the run, its
# own repository), run right after it; pgbackrest-enc is pgBackRest with repo-cipher-type=aes-256-cbc and a
# repo1-cipher-pass in a repository of its own (bench/lib.sh, write_pgbackrest_conf --cipher). Prints, per
# walvault contender: NAME-enc / NAME (target >= 85 %), NAME-enc / pgbackrest-enc (the unencrypted target:
# >= 3x, S3 >= 2x) beside the unencrypted NAME / pgbackrest, and what encryption costs pgBackRest.
set -euo pipefail
cd "$(dirname "$0")/.."

SEGMENTS=${SEGMENTS:-100}
KINDS=${KINDS:-"incompressible compressible"}
BENCH_DIR=${BENCH_DIR:-/tmp/walvault-bench}
BENCH_USER=${BENCH_USER:-postgres}
PORT=${BENCH_PORT:-54339}
REPO=${REPO:-posix}
case $REPO in posix | s3) ;; *) echo "REPO must be posix or s3, not $REPO" >&2; exit 1 ;; esac
MORE_PARALLEL=${MORE_PARALLEL:-4 8}
WALVAULTS="walvault"
for p in $MORE_PARALLEL; do
    if ! [[ "$p" =~ ^[0-9]+$ ]] || [ "$p" -lt 1 ] || [ "$p" -gt 16 ]; then
        echo "MORE_PARALLEL must list values of walvault.parallel (1-16), not \"$p\"" >&2
        exit 1
    fi
    WALVAULTS+=" walvault-p$p"
done
if [ -n "${WALVAULT_BIN_B:-}" ]; then
    [ -f "$WALVAULT_BIN_B" ] || { echo "WALVAULT_BIN_B must name a walvault.so, not \"$WALVAULT_BIN_B\"" >&2; exit 1; }
    [[ " $MORE_PARALLEL " == *" 8 "* ]] || { echo "WALVAULT_BIN_B is compared with walvault-p8: keep 8 in MORE_PARALLEL" >&2; exit 1; }
    WALVAULTS+=" walvault_b"
fi

# shellcheck source=bench/lib.sh
. bench/lib.sh
# Every contender in the order they run: with ENCRYPT=1 each encrypted twin right after its contender.
PGBACKRESTS=pgbackrest ALL_WALVAULTS=""
[ "$ENCRYPT" = 0 ] || PGBACKRESTS+=" pgbackrest-enc"
for c in $WALVAULTS; do
    ALL_WALVAULTS+=" $c"
    [ "$ENCRYPT" = 0 ] || [ "$c" = walvault_b ] || ALL_WALVAULTS+=" $c-enc"
done

stop_all() {
    stop_bench_clusters
    stop_s3rver
}
trap stop_all EXIT
stop_all
fresh_bench_dir
encryption_setup
if [ "$REPO" = s3 ]; then
    CONTENDERS="true $PGBACKRESTS$ALL_WALVAULTS"
    buckets=(bench-ceiling)
    for c in $PGBACKRESTS $ALL_WALVAULTS; do buckets+=("bench-$c"); done
    start_s3rver "${buckets[@]}"
else
    CONTENDERS="true cp $PGBACKRESTS$ALL_WALVAULTS"
fi
width=11  # of the contenders' names in the figures
[ "$ENCRYPT" = 0 ] || width=15
# walvault.parallel of a walvault contender: 2 for "walvault", N for "walvault-pN", 8 for "walvault_b"
# (an encrypted twin, NAME-enc: that of NAME).
parallel_of() {
    local c=${1%-enc}
    case $c in walvault) echo 2 ;; walvault_b) echo 8 ;; *) echo "${c#walvault-p}" ;; esac
}

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
    case $name in
        walvault_b)  # the other build, loaded by its path (a copy readable by the cluster's user)
            cp "$WALVAULT_BIN_B" "$BENCH_DIR/walvault_b.so"
            chmod 755 "$BENCH_DIR/walvault_b.so"
            printf "shared_preload_libraries = '%s'\narchive_library = '%s'\n" \
                "$BENCH_DIR/walvault_b" "$BENCH_DIR/walvault_b" >> "$dir/postgresql.conf" ;;
        walvault*) echo "archive_library = 'walvault'" >> "$dir/postgresql.conf" ;;
    esac
    pgctl "$dir" start
    local conf
    case $name in
        true) conf="archive_command = 'true'" ;;
        cp) conf="archive_command = 'test ! -f $BENCH_DIR/repo-cp/%f && cp %p $BENCH_DIR/repo-cp/%f'" ;;
        pgbackrest | pgbackrest-enc)
            # A fresh spool: status files left by an earlier run for the same segment names would make
            # archive-push report success without pushing anything.
            local sfx=${name#pgbackrest} cipher=() lines=()
            [ -z "$sfx" ] || cipher=(--cipher)
            rm -rf "$BENCH_DIR/pgbackrest$sfx-spool" "$BENCH_DIR/pgbackrest$sfx-lock" "$BENCH_DIR/pgbackrest$sfx-log"
            [ "$REPO" = posix ] || mapfile -t lines < <(pgbackrest_s3_repo "bench-$name" "/$kind")
            write_pgbackrest_conf "${cipher[@]}" "$BENCH_DIR/$name.conf" "$dir" log-level-console=error \
                log-level-file=off archive-async=y process-max=2 "${lines[@]}"
            as_user pgbackrest --config="$BENCH_DIR/$name.conf" --stanza=bench stanza-create >/dev/null
            conf="archive_command = 'pgbackrest --config=$BENCH_DIR/$name.conf --stanza=bench archive-push %p'"
            ;;
        walvault*)
            local parallel repo="walvault.repo = '$BENCH_DIR/repo-$name'"
            parallel=$(parallel_of "$name")
            [ "$REPO" = s3 ] && repo=$(walvault_s3_conf "bench-$name" "$kind")
            conf="$repo
walvault.compression = 'zstd:3'
walvault.parallel = $parallel"
            [[ $name != *-enc ]] || conf+="
walvault.encryption_recipients = '$AGE_RECIPIENT'"
            ;;
    esac
    echo "$conf" >> "$dir/postgresql.conf"
    local start end done_count=0
    start=$(date +%s.%N)
    sql "SELECT pg_reload_conf()" >/dev/null
    # One session waits inside the server, reading the archiver's counter every 20 ms. The script used to
    # start runuser and psql (and a backend) every 50 ms: 22 % of all CPU samples of a profiled run.
    sql "DO \$\$ BEGIN
            WHILE (SELECT archived_count FROM pg_stat_archiver) < $target LOOP
                PERFORM pg_sleep(0.02);
                PERFORM pg_stat_clear_snapshot();
            END LOOP;
        END \$\$" >/dev/null
    end=$(date +%s.%N)
    done_count=$(sql "SELECT archived_count FROM pg_stat_archiver")
    [ "$done_count" -ge "$target" ] || { echo "$name: archived $done_count of $target" >&2; exit 1; }
    pgctl "$dir" stop -m immediate
    rm -rf "$dir"
    # Every contender that keeps files must have kept one per segment, or its figure means nothing.
    if [ "$name" != true ]; then
        local kept
        if [ "$REPO" = s3 ]; then
            kept=$(s3_wal_objects "bench-$name" "$kind")
        else
            kept=$(find "$BENCH_DIR/repo-$name" -type f \( -name '0000*' \) | wc -l)
        fi
        [ "$kept" -ge "$target" ] || { echo "$name kept $kept files for $target segments" >&2; exit 1; }
        [[ $name != walvault*-enc ]] || [ "$REPO" = s3 ] || check_encrypted "$BENCH_DIR/repo-$name"
    fi
    echo "$target $(echo "$end - $start" | bc -l)"
}

# The store's raw ceiling: the template's .ready segments PUT as they are (no compression, no checks)
# by N parallel curl processes, each over one kept-alive connection; prints the count and the seconds.
raw_ceiling() {
    local n=$1 i j f
    local -a files=() pids=()
    for f in "$BENCH_DIR"/template/pg_wal/archive_status/*.ready; do
        f=${f##*/}
        files+=("${f%.ready}")
    done
    local -a args
    local start end
    start=$(date +%s.%N)
    for ((i = 0; i < n; i++)); do
        args=()
        for ((j = i; j < ${#files[@]}; j += n)); do
            args+=(-T "$BENCH_DIR/template/pg_wal/${files[j]}" "$S3_ENDPOINT/bench-ceiling/$kind/$n/${files[j]}")
        done
        curl -sS --fail --cacert "$S3_CA" -o /dev/null "${args[@]}" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || { echo "a curl upload failed" >&2; exit 1; }; done
    end=$(date +%s.%N)
    local kept
    kept=$(find "$S3_DATA/bench-ceiling/$kind/$n" -type f -name '0000*._S3rver_object' | wc -l)
    [ "$kept" -eq "${#files[@]}" ] || { echo "ceiling: s3rver kept $kept of ${#files[@]} objects" >&2; exit 1; }
    echo "${#files[@]} $(echo "$end - $start" | bc -l)"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(pgbackrest version); $("$bindir/walvault" --version); repository: $REPO"
for kind in $KINDS; do
    n=$(make_template "$kind")
    echo "== $kind WAL: backlog of $n segments"
    declare -A rate=()
    for c in $CONTENDERS; do
        read -r count secs < <(run_contender "$c")
        rate[$c]=$(echo "$count / $secs" | bc -l)
        stored=""
        [ "$REPO" = posix ] && [ -d "$BENCH_DIR/repo-$c" ] && stored=" stored $(du -sm "$BENCH_DIR/repo-$c" | cut -f1) MB"
        [ "$REPO" = s3 ] && [ -d "$S3_DATA/bench-$c/$kind" ] && stored=" stored $(du -sm "$S3_DATA/bench-$c/$kind" | cut -f1) MB"
        printf '%-*s %4d segments in %7.2f s = %7.1f seg/s%s\n' "$width" "$c" "$count" "$secs" "${rate[$c]}" "$stored"
    done
    if [ "$REPO" = posix ]; then
        for c in $WALVAULTS; do
            p=$(parallel_of "$c")
            printf 'ratio %s (parallel %d, %s): walvault/pgbackrest %.2fx (target >= 3x)   walvault/cp: %.2fx\n' \
                "$c" "$p" "$kind" "$(echo "${rate[$c]} / ${rate[pgbackrest]}" | bc -l)" "$(echo "${rate[$c]} / ${rate[cp]}" | bc -l)"
        done
    else
        for p in 2 4; do
            read -r count secs < <(raw_ceiling "$p")
            rate[ceiling-$p]=$(echo "$count / $secs" | bc -l)
            printf '%-11s %4d segments in %7.2f s = %7.1f seg/s (%d parallel curl PUT streams, uncompressed)\n' \
                "ceiling-$p" "$count" "$secs" "${rate[ceiling-$p]}" "$p"
        done
        best=${rate[ceiling-2]}
        [ "$(echo "${rate[ceiling-4]} > $best" | bc -l)" = 1 ] && best=${rate[ceiling-4]}
        for c in $WALVAULTS; do
            p=$(parallel_of "$c") cp=$p  # cp: the ceiling compared with, measured with 2 and 4 streams
            [ -n "${rate[ceiling-$cp]:-}" ] || cp=4
            printf 'ratio %s (parallel %d, %s): %.1f seg/s / pgbackrest %.1f = %.2fx (target >= 2x); / ceiling-%d %.1f = %.0f%%; / best ceiling %.1f = %.0f%% (target >= 70%%)\n' \
                "$c" "$p" "$kind" "${rate[$c]}" "${rate[pgbackrest]}" "$(echo "${rate[$c]} / ${rate[pgbackrest]}" | bc -l)" \
                "$cp" "${rate[ceiling-$cp]}" "$(echo "100 * ${rate[$c]} / ${rate[ceiling-$cp]}" | bc -l)" \
                "$best" "$(echo "100 * ${rate[$c]} / $best" | bc -l)"
        done
    fi
    if [ "$ENCRYPT" = 1 ]; then
        target=3
        [ "$REPO" = posix ] || target=2
        for c in $WALVAULTS; do
            [ "$c" != walvault_b ] || continue
            share=$(echo "100 * ${rate[$c-enc]} / ${rate[$c]}" | bc -l)
            margin=$(echo "${rate[$c-enc]} / ${rate[pgbackrest-enc]}" | bc -l)
            printf 'encrypted %s (parallel %d, %s): %.1f seg/s / unencrypted %.1f = %.0f%% (target >= 85%%: %s); / pgbackrest-enc %.1f = %.2fx (target >= %dx: %s; unencrypted %s/pgbackrest %.2fx)\n' \
                "$c" "$(parallel_of "$c")" "$kind" "${rate[$c-enc]}" "${rate[$c]}" "$share" \
                "$(encryption_verdict "$share" '>=' 85)" "${rate[pgbackrest-enc]}" "$margin" "$target" \
                "$(encryption_verdict "$margin" '>=' "$target")" "$c" "$(echo "${rate[$c]} / ${rate[pgbackrest]}" | bc -l)"
        done
        printf 'encrypted pgbackrest (%s): pgbackrest-enc %.1f seg/s / pgbackrest %.1f = %.0f%%; load average %s\n' \
            "$kind" "${rate[pgbackrest-enc]}" "${rate[pgbackrest]}" "$(echo "100 * ${rate[pgbackrest-enc]} / ${rate[pgbackrest]}" | bc -l)" \
            "$(cut -d' ' -f1-3 /proc/loadavg)"
    fi
    if [ -n "${WALVAULT_BIN_B:-}" ]; then
        printf 'A/B (%s): walvault-p8 %.1f seg/s / walvault_b %.1f seg/s = %.3f (installed module / %s, sha256 %s)\n' \
            "$kind" "${rate[walvault-p8]}" "${rate[walvault_b]}" "$(echo "${rate[walvault-p8]} / ${rate[walvault_b]}" | bc -l)" \
            "$WALVAULT_BIN_B" "$(sha256sum "$WALVAULT_BIN_B" | cut -c1-12)"
    fi
    unset rate
done
stop_all
rm -rf "$BENCH_DIR"  # repositories of several GB: kept only when a run fails (its logs are there)
