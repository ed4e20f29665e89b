#!/usr/bin/env bash
# Replay-from-the-archive benchmark. A cluster archiving with walvault takes a walvault base backup, then
# writes SEGMENTS WAL segments of compressible WAL (a pgbench -i -s 10 loop) that walvault archives; the
# same segment files are pushed into a pgBackRest repository and kept aside. The backup is restored once
# and copied once per contender, which differ only in where recovery gets the WAL from:
#   walvault     restore_command = 'walvault wal-fetch ...' as walvault restore wrote it (with --prefetch
#                when `walvault wal-fetch --help` offers it)
#   pgBackRest   restore_command = 'pgbackrest ... archive-get %f "%p"', archive-async=y with its default
#                queue (archive-get-queue-max 128 MiB), process-max=2, posix repo, zst
#   floor        the segments uncompressed beside the data directory, restore_command = 'exec ln DIR/%f %p':
#                what any restore_command costs on this machine (process starts, PostgreSQL's own fsync)
#   pg_wal       the limit: the same segments copied into pg_wal before start, restore_command = 'false'
# Times each from pg_ctl start to the end of replay (the timestamp of "redo done" in its log; the time until
# it has promoted is printed too), prints the figures and the ratios, and checks that all four replayed to
# the same LSN and give the source's rows.
# Usage: bench/replay.sh
# Each figure is the median of RUNS rounds (default 2, which keeps it under 10 minutes on a loaded 2-core
# machine; for an even count the lower middle; the order of the contenders rotates between rounds).
# Settings: SEGMENTS (default 200), RUNS, BASE_SCALE (pgbench scale of the backed-up data, default 10),
# PREFETCH (value for wal-fetch --prefetch when it takes one, default 8: pgBackRest's default queue of
# 128 MiB), BENCH_DIR, BENCH_USER, BENCH_PORT, BENCH_BUILD (yes; "no" uses the installed walvault),
# WALVAULT_BIN (measure that walvault binary instead of the installed one), WALVAULT_BIN_B (an A/B: a fifth
# contender, walvault_b, the same as walvault but with this binary in restore_command, in every round).
# ENCRYPT=1: two more contenders in every round, with the same segments in encrypted repositories:
#   walvault-enc     the segments pushed by `walvault wal-push --encryption-recipients` (zstd:3, an age key
#                    made for the run) into a repository of their own; walvault's restore_command with that
#                    repository and --encryption-identity-file
#   pgbackrest-enc   the segments pushed by archive-push into a stanza with repo-cipher-type=aes-256-cbc and a
#                    repo1-cipher-pass (bench/lib.sh, write_pgbackrest_conf --cipher), archive-get as above
# and prints walvault-enc / walvault (target <= 1.15x) and pgbackrest-enc / walvault-enc (the unencrypted
# target, >= 2x) beside the unencrypted pgBackRest / walvault.
set -euo pipefail
cd "$(dirname "$0")/.."

SEGMENTS=${SEGMENTS:-200}
RUNS=${RUNS:-2}
BASE_SCALE=${BASE_SCALE:-10}
PREFETCH=${PREFETCH:-8}
BENCH_DIR=${BENCH_DIR:-/tmp/walvault-bench-replay}
BENCH_USER=${BENCH_USER:-postgres}
PORT=${BENCH_PORT:-54341}
# shellcheck source=bench/lib.sh
. bench/lib.sh

# pgBackRest's asynchronous archive-get outlives the server that started it. Its lock file names its PID
# (first line, or "pid" in the JSON of newer versions); it is ours only if it runs with our config file.
stop_pgbackrest_async() {
    local lock pid tries
    for lock in "$BENCH_DIR"/pgbackrest*-lock/*.lock; do
        [ -f "$lock" ] || continue
        pid=$(sed -n -e '1s/^\([0-9][0-9]*\)$/\1/p' -e 's/.*"pid":\([0-9][0-9]*\).*/\1/p' "$lock" | head -n 1)
        [ -n "$pid" ] && tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" | grep -q -- "--config=$BENCH_DIR/" || continue
        tries=0
        while kill -0 "$pid" 2>/dev/null && [ "$tries" -lt 50 ]; do sleep 0.1; tries=$((tries + 1)); done
        kill "$pid" 2>/dev/null || true
    done
}
# walvault's prefetcher, too, outlives the server (until it has been idle for a while); its lock file in the
# spool names its PID.
stop_walvault_prefetcher() {
    local lock pid
    for lock in "$BENCH_DIR"/*/pg_wal/walvault-spool/prefetch.lock; do
        [ -f "$lock" ] || continue
        pid=$(head -n 1 "$lock" | sed -n 's/^\([0-9][0-9]*\)$/\1/p')
        [ -n "$pid" ] && tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" | grep -q -- "wal-fetch.*$BENCH_DIR/" || continue
        kill "$pid" 2>/dev/null || true
    done
}
stop_all() {
    stop_bench_clusters
    stop_pgbackrest_async
    stop_walvault_prefetcher
}
trap stop_all EXIT
stop_all
fresh_bench_dir
encryption_setup
as_user mkfifo "$BENCH_DIR/tick.fifo"  # for waits without a process per check (wait_for_end_of_recovery)

pin_walvault
pgbr_conf=$BENCH_DIR/pgbackrest.conf
pgbr() { as_user pgbackrest --config="$pgbr_conf" --stanza=bench "$@"; }
check_query="SELECT (SELECT count(*) FROM pgbench_accounts) || ' ' || (SELECT sum(aid) FROM pgbench_accounts)
    || ' ' || (SELECT count(*) FROM pgbench_tellers) || ' ' || (SELECT count(*) FROM pgbench_branches)"
workload="pgbench -i -s 10 loop (COPY and index builds: compressible)"

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(pgbackrest version); $("$walvault" --version) (installed $(date -u -r "$walvault" '+%F %H:%M') UTC, sha256 $(sha256sum "$walvault" | cut -c1-12), module $(sha256sum "$(pg_config --pkglibdir)/walvault.so" | cut -c1-12)); load average $(cut -d' ' -f1-3 /proc/loadavg)"

# The source archives with walvault from the start; pgBackRest's stanza is made while it runs.
t0=$(date +%s)
src=$BENCH_DIR/source
as_user "$bindir/initdb" -D "$src" -A trust >/dev/null
as_user mkdir -m 0700 "$BENCH_DIR/repo-walvault" "$BENCH_DIR/repo-pgbackrest" "$BENCH_DIR/wal"
[ "$ENCRYPT" = 0 ] || as_user mkdir -m 0700 "$BENCH_DIR/repo-walvault-enc" "$BENCH_DIR/repo-pgbackrest-enc"
cat >> "$src/postgresql.conf" <<CONF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$BENCH_DIR'
shared_preload_libraries = 'walvault'
archive_mode = on
archive_library = 'walvault'
walvault.repo = '$BENCH_DIR/repo-walvault'
walvault.compression = 'zstd:3'
walvault.parallel = 2
max_wal_size = '64GB'
checkpoint_timeout = '1h'
autovacuum = off
log_min_messages = error
CONF
write_pgbackrest_conf "$pgbr_conf" "$src" log-level-console=error log-level-file=off process-max=2
[ "$ENCRYPT" = 0 ] || write_pgbackrest_conf --cipher "$BENCH_DIR/pgbackrest-enc.conf" "$src" log-level-console=error \
    log-level-file=off process-max=2
pgctl "$src" start
as_user "$bindir/pgbench" -h "$BENCH_DIR" -p "$PORT" -i -s "$BASE_SCALE" -q postgres >/dev/null 2>&1
as_user "$walvault" backup --repo "$BENCH_DIR/repo-walvault" --dbname "host=$BENCH_DIR port=$PORT dbname=postgres" \
    --label base --checkpoint fast >/dev/null
pgbr stanza-create >/dev/null
[ "$ENCRYPT" = 0 ] || as_user pgbackrest --config="$BENCH_DIR/pgbackrest-enc.conf" --stanza=bench stanza-create >/dev/null
read -r start_lsn start_wal < <(as_user "$walvault" list --json --repo "$BENCH_DIR/repo-walvault" |
    python3 -c 'import json, sys; b = json.load(sys.stdin)["backups"][0]; print(b["start_lsn"], b["start_wal"])')

# WAL after the backup: at least SEGMENTS segments from its start, archived by walvault as they fill.
while [ "$(sql "SELECT floor((pg_current_wal_lsn() - '$start_lsn') / 16777216)")" -lt "$SEGMENTS" ]; do
    as_user "$bindir/pgbench" -h "$BENCH_DIR" -p "$PORT" -i -s 10 -q postgres >/dev/null 2>&1
done
expected=$(sql "$check_query")
last_wal=$(sql "SELECT pg_walfile_name(pg_switch_wal())")
until [ "$(sql "SELECT last_archived_wal FROM pg_stat_archiver")" = "$last_wal" ]; do sleep 0.1; done

# The segments from the backup's start to the last archived one, copied aside as PostgreSQL wrote them
# (before the shutdown checkpoint, which recycles them; none ran in between); then pushed into
# pgBackRest's repository.
seg() { echo $((16#${1:8:8} * 256 + 16#${1:16:8})); }
for ((n = $(seg "$start_wal"); n <= $(seg "$last_wal"); n++)); do
    name=$(printf '%s%08X%08X' "${start_wal:0:8}" $((n / 256)) $((n % 256)))
    as_user cp "$src/pg_wal/$name" "$BENCH_DIR/wal/$name"
done
pgctl "$src" stop -m fast
# The stop switches to a new segment when the last one holds WAL written after our switch (a running-xacts
# record), and walvault archives it: take it from the repository, so that every contender has the same WAL.
archived_last=$(as_user "$walvault" list --json --repo "$BENCH_DIR/repo-walvault" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["wal"][0]["last_segment"])')
for ((n = $(seg "$last_wal") + 1; n <= $(seg "$archived_last"); n++)); do
    name=$(printf '%s%08X%08X' "${start_wal:0:8}" $((n / 256)) $((n % 256)))
    as_user "$walvault" wal-fetch --repo "$BENCH_DIR/repo-walvault" "$name" "$BENCH_DIR/wal/$name"
    last_wal=$name
done
count=$(find "$BENCH_DIR/wal" -type f | wc -l)
find "$BENCH_DIR/wal" -type f -printf '%f\n' | sort |
    as_user xargs -P 2 -I{} pgbackrest --config="$pgbr_conf" --stanza=bench --no-archive-async archive-push \
        "$BENCH_DIR/wal/{}"
pushed=$(find "$BENCH_DIR/repo-pgbackrest/archive" -type f -name '0000*' | wc -l)
[ "$pushed" -ge "$count" ] || { echo "pgBackRest holds $pushed segments of $count" >&2; exit 1; }
if [ "$ENCRYPT" = 1 ]; then
    # The same segments into the encrypted repositories; walvault's first push alone (it creates the
    # repository's identity.json).
    find "$BENCH_DIR/wal" -type f -printf '%f\n' | sort |
        as_user xargs -P 2 -I{} pgbackrest --config="$BENCH_DIR/pgbackrest-enc.conf" --stanza=bench --no-archive-async \
            archive-push "$BENCH_DIR/wal/{}"
    wv_push=("$walvault" wal-push --pgdata "$src" --repo "$BENCH_DIR/repo-walvault-enc" --compression zstd:3
        --encryption-recipients "$AGE_RECIPIENT")
    as_user "${wv_push[@]}" "$BENCH_DIR/wal/$start_wal" >/dev/null
    find "$BENCH_DIR/wal" -type f -printf '%f\n' | sort | tail -n +2 |
        as_user xargs -P 2 -I{} "${wv_push[@]}" "$BENCH_DIR/wal/{}" >/dev/null
    for r in repo-pgbackrest-enc/archive repo-walvault-enc/wal; do
        pushed=$(find "$BENCH_DIR/$r" -type f -name '0000*' | wc -l)
        [ "$pushed" -ge "$count" ] || { echo "$r holds $pushed segments of $count" >&2; exit 1; }
    done
    check_encrypted "$BENCH_DIR/repo-walvault-enc/wal"
fi
echo "== $count segments ($start_wal to $last_wal) of WAL from a $workload, after a base backup of pgbench -i -s $BASE_SCALE; ready in $(($(date +%s) - t0)) s"
# Stored bytes of these segments in a repository (object names start with the segment name).
stored_mb() {
    find "$1" -type f -name '0000*' -printf '%f %s\n' |
        awk 'NR == FNR { want[$1] = 1; next } substr($1, 1, 24) in want { s += $2 } END { printf "%.1f", s / 1048576 }' \
            <(ls "$BENCH_DIR/wal") -
}
echo "stored: raw $((count * 16)) MB, walvault $(stored_mb "$BENCH_DIR/repo-walvault/wal") MB, pgBackRest $(stored_mb "$BENCH_DIR/repo-pgbackrest/archive") MB"
[ "$ENCRYPT" = 0 ] || echo "stored encrypted: walvault $(stored_mb "$BENCH_DIR/repo-walvault-enc/wal") MB, pgBackRest $(stored_mb "$BENCH_DIR/repo-pgbackrest-enc/archive") MB"

# One restore of the base backup, one copy of it per contender.
as_user "$walvault" restore base --repo "$BENCH_DIR/repo-walvault" --pgdata "$BENCH_DIR/restored" >/dev/null
if "$walvault" wal-fetch --help | grep -q -- '--prefetch'; then
    if "$walvault" wal-fetch --help | grep -E -q -- '--prefetch[^ ]* +(TEXT|INT|UINT|NUM|N)\b'; then
        prefetch_arg="--prefetch=$PREFETCH"
    else
        prefetch_arg="--prefetch"
    fi
    prefetch_note="prefetch used ($prefetch_arg)"
    [ "$PREFETCH" != 0 ] || prefetch_note="prefetch off ($prefetch_arg)"
else
    prefetch_arg=""
    prefetch_note="prefetch not used (this walvault's wal-fetch has no --prefetch: one segment per call)"
fi
set_restore_command() {
    as_user sed -i "s|^restore_command = .*|restore_command = '$2'|" "$1/postgresql.auto.conf"
}
prepare() {
    local c=$1 dir=$BENCH_DIR/replay-$1
    as_user cp -a "$BENCH_DIR/restored" "$dir"
    case $c in
        walvault | walvault_b | walvault-enc)
            [ -z "$prefetch_arg" ] || as_user sed -i "/^restore_command = /s| wal-fetch | wal-fetch $prefetch_arg |" \
                "$dir/postgresql.auto.conf"
            [ "$c" != walvault_b ] || as_user sed -i "/^restore_command = /s|exec $walvault |exec $walvault_b |" \
                "$dir/postgresql.auto.conf"
            if [ "$c" = walvault-enc ]; then
                as_user sed -i -e "/^restore_command = /s| --repo=$BENCH_DIR/repo-walvault | --repo=$BENCH_DIR/repo-walvault-enc |" \
                    -e "/^restore_command = /s| wal-fetch | wal-fetch --encryption-identity-file=$AGE_IDENTITY |" \
                    "$dir/postgresql.auto.conf"
                grep -q "^restore_command = .*--repo=$BENCH_DIR/repo-walvault-enc " "$dir/postgresql.auto.conf" || {
                    echo "walvault-enc: no --repo=$BENCH_DIR/repo-walvault in restore_command to replace" >&2; exit 1
                }
            fi
            ;;
        pgbackrest | pgbackrest-enc)
            # An empty queue: segments left in the spool by an earlier round would be served without a fetch.
            local sfx=${c#pgbackrest}
            rm -rf "$BENCH_DIR/pgbackrest$sfx-spool/archive"
            sed -e "s|^pg1-path=.*|pg1-path=$dir|" -e 's|^\[bench\]|archive-async=y\n[bench]|' "$BENCH_DIR/pgbackrest$sfx.conf" \
                > "$BENCH_DIR/pgbackrest$sfx-replay.conf"
            chown "$BENCH_USER" "$BENCH_DIR/pgbackrest$sfx-replay.conf" 2>/dev/null || true
            set_restore_command "$dir" "pgbackrest --config=$BENCH_DIR/pgbackrest$sfx-replay.conf --stanza=bench archive-get %f \"%p\""
            ;;
        floor)
            # What any restore_command costs here: the segments uncompressed, durable and cached beside the
            # data directory, and the cheapest command that hands one over (a hard link, no copy).
            as_user mkdir "$dir.stage"
            as_user cp "$BENCH_DIR"/wal/* "$dir.stage/"
            set_restore_command "$dir" "exec ln $dir.stage/%f %p"
            ;;
        pg_wal)
            set_restore_command "$dir" "false"
            as_user cp "$BENCH_DIR"/wal/* "$dir/pg_wal/"
            ;;
    esac
    grep '^restore_command = ' "$dir/postgresql.auto.conf" | tail -n 1
}

# Follows a server log until recovery has ended ("ready to accept connections", which a hot standby prints
# only after promotion) or failed, with bash builtins alone: a process started per check costs ~5 ms of CPU
# on this VM, and the script's earlier loop (two greps and a sleep every 0.1 s; before that four processes
# every 20 ms) took that CPU from the contender being measured. `read -t` on a FIFO nobody writes is the
# sleep. A line read in pieces (the server still writing it) is put together before it is matched.
wait_for_end_of_recovery() {
    local name=$1 log=$2 line partial="" tick logfd deadline=$((SECONDS + 600))
    exec {tick}<> "$BENCH_DIR/tick.fifo"
    until [ -f "$log" ]; do read -r -t 0.1 -u "$tick" _ || true; done
    exec {logfd}< "$log"
    while :; do
        if IFS= read -r -u "$logfd" line; then
            line=$partial$line partial=""
            case $line in
                *"database system is ready to accept connections"*) break ;;
                *FATAL* | *PANIC*) ;;
                *) continue ;;
            esac
        else
            partial+=$line
            [ "$SECONDS" -gt "$deadline" ] || { read -r -t 0.1 -u "$tick" _ || true; continue; }
        fi
        echo "$name: recovery failed or took over 600 s:" >&2
        tail -n 20 "$log" >&2
        exit 1
    done
    exec {logfd}<&- {tick}<&-
}

# Starts one contender; prints "to_redo_done to_promoted redo_lsn redo_elapsed redo_cpu_user redo_cpu_system"
# (seconds from pg_ctl start to the log's "redo done" line, which follows the last fetch, and to the end of
# the end-of-recovery checkpoint, which is the same work for every contender).
replay() {
    local dir=$BENCH_DIR/replay-$1 log=$BENCH_DIR/replay-$1.log start now
    rm -f "$log"
    sync  # the copies' dirty pages are written before, not during, the timed part
    local sampler=""
    if [[ $1 == walvault* ]]; then  # the prefetcher's peak RSS (VmHWM), sampled while it lives
        rm -f "$BENCH_DIR/prefetcher-hwm"
        (
            # Bash builtins only: a process started per sample costs ~5 ms of CPU on this VM, and only this
            # contender would pay it. `read -t` on a FIFO nobody writes is the sleep.
            set +e +o pipefail  # the lock file and the process come and go
            exec {tick}<> "$BENCH_DIR/tick.fifo"
            lock=$dir/pg_wal/walvault-spool/prefetch.lock max=0
            while :; do
                pid="" kb=""
                [ -f "$lock" ] && read -r pid < "$lock" 2>/dev/null
                if [[ "$pid" =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/status" ]; then
                    while read -r key value _; do
                        [ "$key" = "VmHWM:" ] && kb=$value
                    done < "/proc/$pid/status" 2>/dev/null
                fi
                if [ -n "$kb" ] && [ "$kb" -gt "$max" ]; then max=$kb; echo "$max" > "$BENCH_DIR/prefetcher-hwm"; fi
                read -r -t 0.5 -u "$tick" _
            done
        ) &
        sampler=$!
    fi
    start=$(date +%s.%N)
    as_user "$bindir/pg_ctl" -D "$dir" -l "$log" -o "-c archive_mode=off" start >/dev/null
    wait_for_end_of_recovery "$1" "$log"
    now=$(date +%s.%N)
    if [ -n "$sampler" ]; then
        # The prefetcher's CPU time so far (it outlives recovery, idle): utime + stime of /proc/PID/stat.
        local pid="" stat=() rest
        rm -f "$BENCH_DIR/prefetcher-cpu"
        read -r pid < "$dir/pg_wal/walvault-spool/prefetch.lock" 2>/dev/null || true
        if [[ "$pid" =~ ^[0-9]+$ ]] && read -r rest < "/proc/$pid/stat" 2>/dev/null; then
            read -r -a stat <<<"${rest##*) }"  # the fields after the command name; utime, stime are 12, 13
            echo "$(((stat[11] + stat[12]) * 1000 / $(getconf CLK_TCK)))" > "$BENCH_DIR/prefetcher-cpu"
        fi
        sleep 0.3
        kill "$sampler" 2>/dev/null || true
        wait "$sampler" 2>/dev/null || true
    fi
    local line done_at
    line=$(sed -n 's/.*redo done at \([0-9A-F/]*\) system usage: CPU: user: \([0-9.]*\) s, system: \([0-9.]*\) s, elapsed: \([0-9.]*\) s.*/\1 \4 \2 \3/p' "$log")
    done_at=$(date -d "$(grep 'redo done at' "$log" | cut -d' ' -f1-3)" +%s.%N)
    echo "$(echo "$done_at - $start" | bc -l) $(echo "$now - $start" | bc -l) $line"
}

contenders=(walvault pgbackrest floor pg_wal)
[ "$ENCRYPT" = 0 ] || contenders=(walvault walvault-enc pgbackrest pgbackrest-enc floor pg_wal)
if [ -n "${WALVAULT_BIN_B:-}" ]; then  # an A/B of two builds: a fifth contender, walvault_b, runs this binary
    walvault_b=$BENCH_DIR/bin-b/walvault
    mkdir -p "$BENCH_DIR/bin-b"
    cp -p "$WALVAULT_BIN_B" "$walvault_b"
    contenders+=(walvault_b)
fi
echo "restore_command per contender:"
for c in "${contenders[@]}"; do
    printf '  %-10s %s\n' "$c" "$(prepare "$c")"
    rm -rf "$BENCH_DIR/replay-$c" "$BENCH_DIR/replay-$c.stage"
done
declare -A secs=() promoted=() lsn=()
for ((run = 1; run <= RUNS; run++)); do
    for ((k = 0; k < ${#contenders[@]}; k++)); do
        c=${contenders[$(((k + run - 1) % ${#contenders[@]}))]}
        prepare "$c" >/dev/null
        out=$(replay "$c")
        read -r s p l redo user sys <<<"$out"
        [ -n "${l:-}" ] || { echo "$c: no \"redo done\" line in its log" >&2; exit 1; }
        secs[$c]="${secs[$c]:-} $s"
        promoted[$c]="${promoted[$c]:-} $p"
        lsn[$c]=$l
        state=$(sql "SELECT pg_is_in_recovery()")
        got=$(sql "$check_query")
        pgctl "$BENCH_DIR/replay-$c" stop -m immediate
        stop_pgbackrest_async
        stop_walvault_prefetcher
        [ "$state" = f ] || { echo "$c: still in recovery" >&2; exit 1; }
        [ "$got" = "$expected" ] || { echo "$c: replayed data gives \"$got\", the source had \"$expected\"" >&2; exit 1; }
        printf '  round %d %-10s %5.1f s to "redo done" at %s (redo %s s; startup process CPU: user %s s, system %s s), %5.1f s to promoted\n' \
            "$run" "$c" "$s" "$l" "$redo" "$user" "$sys" "$p"
        if [[ $c == walvault* ]]; then
            hwm=$(cat "$BENCH_DIR/prefetcher-hwm" 2>/dev/null || true)
            cpu=$(cat "$BENCH_DIR/prefetcher-cpu" 2>/dev/null || echo "?")
            stats=$(cat "$BENCH_DIR/replay-$c/pg_wal/walvault-spool/stats.json" 2>/dev/null || echo none)
            printf '  round %d %-10s prefetcher peak RSS %s MiB, CPU %s ms by the end of recovery; wal-fetch counters %s\n' \
                "$run" "$c" "$([ -n "$hwm" ] && echo $((hwm / 1024)) || echo "?")" "$cpu" "$stats"
            hwm_all="${hwm_all:-} ${hwm:-0}"
        fi
        rm -rf "$BENCH_DIR/replay-$c" "$BENCH_DIR/replay-$c.stage"
        [ "$l" = "${lsn[walvault]:-$l}" ] && [ "$l" = "${lsn[pg_wal]:-$l}" ] && [ "$l" = "${lsn[pgbackrest]:-$l}" ] &&
            [ "$l" = "${lsn[floor]:-$l}" ] && [ "$l" = "${lsn[walvault_b]:-$l}" ] &&
            [ "$l" = "${lsn[walvault-enc]:-$l}" ] && [ "$l" = "${lsn[pgbackrest-enc]:-$l}" ] || {
            echo "the contenders stopped replay at different points: ${lsn[*]}" >&2; exit 1
        }
    done
done
median() { tr -s ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# The figure: pg_ctl start to "redo done", median of the rounds.
w=$(echo "${secs[walvault]}" | median) p=$(echo "${secs[pgbackrest]}" | median) z=$(echo "${secs[pg_wal]}" | median)
f=$(echo "${secs[floor]}" | median)
printf 'replay: walvault %.1f s, pgBackRest %.1f s (pgBackRest / walvault %.2fx), pg_wal %.1f s (walvault / limit %.2fx)\n' \
    "$w" "$p" "$(echo "$p / $w" | bc -l)" "$z" "$(echo "$w / $z" | bc -l)"
printf '  floor (restore_command = exec ln): %.1f s, %.2fx the limit; walvault / floor %.2fx\n' \
    "$f" "$(echo "$f / $z" | bc -l)" "$(echo "$w / $f" | bc -l)"
if [ -n "${WALVAULT_BIN_B:-}" ]; then
    b=$(echo "${secs[walvault_b]}" | median)
    printf '  walvault_b (%s, sha256 %s): %.1f s (rounds:%s), walvault_b / walvault %.2fx; walvault rounds:%s\n' \
        "$WALVAULT_BIN_B" "$(sha256sum "$walvault_b" | cut -c1-12)" "$b" "${secs[walvault_b]}" \
        "$(echo "$b / $w" | bc -l)" "${secs[walvault]}"
fi
if [ "$ENCRYPT" = 1 ]; then
    we=$(echo "${secs[walvault-enc]}" | median) pe=$(echo "${secs[pgbackrest-enc]}" | median)
    printf 'replay encrypted: walvault-enc %.1f s / walvault %.1f s = %.2fx (target <= 1.15x: %s); pgbackrest-enc %.1f s / walvault-enc = %.2fx (target >= 2x: %s; unencrypted pgBackRest / walvault %.2fx); pgbackrest-enc / pgBackRest %.2fx\n' \
        "$we" "$w" "$(echo "$we / $w" | bc -l)" "$(encryption_verdict "$we / $w" '<=' 1.15)" "$pe" "$(echo "$pe / $we" | bc -l)" \
        "$(encryption_verdict "$pe / $we" '>=' 2)" "$(echo "$p / $w" | bc -l)" "$(echo "$pe / $p" | bc -l)"
    echo "  rounds: walvault${secs[walvault]}, walvault-enc${secs[walvault-enc]}, pgBackRest${secs[pgbackrest]}, pgbackrest-enc${secs[pgbackrest-enc]}"
fi
echo "  medians of $RUNS rounds; $count segments of WAL from a $workload; walvault $prefetch_note; load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
printf '  to promoted (after the end-of-recovery checkpoint): walvault %.1f s, pgBackRest %.1f s, floor %.1f s, pg_wal %.1f s\n' \
    "$(echo "${promoted[walvault]}" | median)" "$(echo "${promoted[pgbackrest]}" | median)" \
    "$(echo "${promoted[floor]}" | median)" "$(echo "${promoted[pg_wal]}" | median)"
printf '  wal-fetch prefetcher peak RSS (VmHWM), highest of the rounds: %s MiB\n' \
    "$(($(echo "$hwm_all" | tr -s ' ' '\n' | grep . | sort -n | tail -n 1) / 1024))"
echo "checked: every round of all ${#contenders[@]} contenders replayed to ${lsn[pg_wal]}, promoted, and gave the source's rows ($expected)"
stop_all
rm -rf "$BENCH_DIR"
