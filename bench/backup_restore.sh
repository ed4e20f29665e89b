#!/usr/bin/env bash
# Base backup and restore benchmark. Builds a pgbench database (pgbench -i -s SCALE, then a short pgbench
# run so that balances are not all zero), stops it, and copies the stopped cluster once per tool, each copy
# archiving with its own tool, so both back up the same data:
#   pgBackRest, posix repo: backup --type=full --start-fast --process-max=2 --compress-type=zst (level 3),
#               restore --process-max=2; archive_command = 'pgbackrest ... archive-push %p'
#   walvault,   posix repo: backup --parallel 2 --checkpoint fast --compression zstd:3,
#               restore --parallel 2; archive_library = 'walvault'
# Times each command wall-clock (and its CPU), prints one line per figure with the ratio pgBackRest/walvault
# and the stored sizes, then checks the restores: the same relation files (paths and sizes) as the
# source, pg_verifybackup for walvault's, and the same row counts and balances once each restored cluster
# has recovered. Then restore --delta of each tool onto its own copy after ~2 % of the pages changed (DELTA_RUNS
# rounds, default RUNS), against each other and against the full restore. Usage: bench/backup_restore.sh
# Each figure is the median of RUNS rounds (default 5; the tools' order alternates between rounds); the
# ratio of each round, whose two runs shared the machine's load of the moment, is printed too.
# Settings: SCALE (default 100), RUNS, DELTA_RUNS, BENCH_DIR, BENCH_USER, BENCH_PORT, BENCH_BUILD (yes; "no" uses the
# walvault already installed, without running scripts/deps.sh and scripts/build.sh), WALVAULT_BIN (measure
# that walvault binary instead of the installed one), WALVAULT_BIN_B (an A/B of restore: a third restore in
# every round, walvault_b, restores walvault's backup of the round with this binary; checked the same way).
# ENCRYPT=1: two more tools in every round, each with a copy of its own archiving into a repository of its own,
# backed up, restored and checked the same way: walvault-enc (walvault.encryption_recipients and backup
# --encryption-recipients with an age key made for the run, restore --encryption-identity-file) and
# pgbackrest-enc (repo-cipher-type=aes-256-cbc and a repo1-cipher-pass: bench/lib.sh, write_pgbackrest_conf
# --cipher). Prints walvault-enc / walvault (restore: target <= 1.15x) and pgbackrest-enc / walvault-enc (the
# unencrypted target, >= 1.5x) beside the unencrypted pgBackRest / walvault. restore --delta stays unencrypted.
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=${SCALE:-100}
RUNS=${RUNS:-5}
BENCH_DIR=${BENCH_DIR:-/tmp/walvault-bench-backup}
BENCH_USER=${BENCH_USER:-postgres}
PORT=${BENCH_PORT:-54340}
# shellcheck source=bench/lib.sh
. bench/lib.sh

stop_all() {
    stop_bench_clusters
}
trap stop_all EXIT
stop_all
fresh_bench_dir
encryption_setup
tools=(walvault pgbackrest)
[ "$ENCRYPT" = 0 ] || tools+=(walvault-enc pgbackrest-enc)

pin_walvault
walvault_b=""
if [ -n "${WALVAULT_BIN_B:-}" ]; then
    walvault_b=$BENCH_DIR/bin-b/walvault
    mkdir -p "$BENCH_DIR/bin-b"
    cp -p "$WALVAULT_BIN_B" "$walvault_b"
fi
pgbr_conf=$BENCH_DIR/pgbackrest.conf
pgbr() { as_user pgbackrest --config="$pgbr_conf" --stanza=bench "$@"; }
conninfo="host=$BENCH_DIR port=$PORT dbname=postgres"
# What a correct restore must give back: row counts and balances of the pgbench tables.
check_query="SELECT (SELECT count(*) FROM pgbench_accounts) || ' ' || (SELECT sum(abalance) FROM pgbench_accounts)
    || ' ' || (SELECT count(*) FROM pgbench_history) || ' ' || (SELECT sum(bbalance) FROM pgbench_branches)
    || ' ' || (SELECT sum(tbalance) FROM pgbench_tellers)"

# The relation files of a data directory, with sizes: what both tools must restore, byte for byte in size.
relation_files() { (cd "$1" && find base global -type f ! -name pg_internal.init -printf '%p %s\n' | sort); }

# Runs a command as the bench user with its output in LOG; prints "wall user system" seconds.
timed() {
    local log=$1 out
    shift
    sync  # what earlier steps wrote is not flushed inside the next timed command
    out=$( { TIMEFORMAT='%R %U %S'; time as_user "$@" >"$log" 2>&1; } 2>&1 ) || {
        echo "failed: $* (log $log):" >&2; tail -n 20 "$log" >&2; exit 1
    }
    echo "$out"
}

# A started server is recovering to the end of its archive; waits until it is a primary again.
wait_promoted() {
    local tries=0
    until [ "$(sql 'SELECT pg_is_in_recovery()' 2>/dev/null || true)" = f ]; do
        sleep 0.2
        tries=$((tries + 1))
        [ "$tries" -lt 1500 ] || { echo "$1 did not finish recovery" >&2; tail -n 20 "$BENCH_DIR/$1.log" >&2; exit 1; }
    done
}

mb() { echo "scale=1; $1 / 1048576" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(pgbackrest version); $("$walvault" --version) (installed $(date -u -r "$walvault" '+%F %H:%M') UTC, sha256 $(sha256sum "$walvault" | cut -c1-12), module $(sha256sum "$(pg_config --pkglibdir)/walvault.so" | cut -c1-12)); load average $(cut -d' ' -f1-3 /proc/loadavg)"

# The source: pgbench at SCALE, stopped. Archiving is off while it loads (each copy turns it on, so no
# backlog of .ready segments competes with the backup), autovacuum off so that no file changes meanwhile.
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
as_user "$bindir/pgbench" -h "$BENCH_DIR" -p "$PORT" -n -c 2 -j 2 -t 1000 postgres >/dev/null 2>&1
sql "VACUUM ANALYZE" >/dev/null
sql "CHECKPOINT" >/dev/null
expected=$(sql "$check_query")
source_mb=$(du -sm --exclude=pg_wal "$dir" | cut -f1)
pgctl "$dir" stop -m fast
source_files=$(relation_files "$dir")
for c in "${tools[@]}"; do
    as_user cp -a "$dir" "$BENCH_DIR/$c"
    as_user mkdir -m 0700 "$BENCH_DIR/repo-$c"
done
echo "== pgbench -i -s $SCALE + 2000 transactions: data directory $source_mb MB without pg_wal ($(echo "$source_files" | wc -l) relation files), ready in $(($(date +%s) - t0)) s"

# pgBackRest's copy archives with archive-push into a fresh stanza; walvault's with the module. The
# configuration of pgBackRest tool C is $BENCH_DIR/C.conf ($pgbr_conf for pgbackrest).
for c in "${tools[@]}"; do
    case $c in
        pgbackrest*)
            cipher=()
            [ "$c" = pgbackrest ] || cipher=(--cipher)
            write_pgbackrest_conf "${cipher[@]}" "$BENCH_DIR/$c.conf" "$BENCH_DIR/$c"
            cat >> "$BENCH_DIR/$c/postgresql.conf" <<CONF
archive_mode = on
archive_command = 'pgbackrest --config=$BENCH_DIR/$c.conf --stanza=bench archive-push %p'
CONF
            pgctl "$BENCH_DIR/$c" start
            as_user pgbackrest --config="$BENCH_DIR/$c.conf" --stanza=bench stanza-create >/dev/null
            pgctl "$BENCH_DIR/$c" stop -m fast
            ;;
        walvault*)
            cat >> "$BENCH_DIR/$c/postgresql.conf" <<CONF
shared_preload_libraries = 'walvault'
archive_mode = on
archive_library = 'walvault'
walvault.repo = '$BENCH_DIR/repo-$c'
walvault.compression = 'zstd:3'
walvault.parallel = 2
CONF
            [ "$c" = walvault ] || echo "walvault.encryption_recipients = '$AGE_RECIPIENT'" >> "$BENCH_DIR/$c/postgresql.conf"
            ;;
    esac
done

# One backup or restore of one tool, timed; "wall user system" seconds are added to the tool's lists.
declare -A wall=() cpu=()
record() {
    local w u s
    read -r w u s <<<"$2"
    wall[$1]="${wall[$1]:-} $w"
    cpu[$1]=$(echo "${cpu[$1]:-0} + $u + $s" | bc -l)
}
backup() {
    local c=$1 run=$2 t
    pgctl "$BENCH_DIR/$c" start
    if [[ $c == pgbackrest* ]]; then
        t=$(timed "$BENCH_DIR/backup-$c-$run.out" pgbackrest --config="$BENCH_DIR/$c.conf" --stanza=bench backup \
            --type=full --start-fast --process-max=2 --compress-type=zst)
    else
        local enc=()
        [ "$c" = walvault ] || enc=(--encryption-recipients "$AGE_RECIPIENT")
        t=$(timed "$BENCH_DIR/backup-$c-$run.out" "$walvault" backup --repo "$BENCH_DIR/repo-$c" \
            --dbname "$conninfo" --label "run$run" --parallel 2 --checkpoint fast --compression zstd:3 "${enc[@]}")
    fi
    pgctl "$BENCH_DIR/$c" stop -m fast
    record "backup-$c" "$t"
}
# Into an empty directory that exists (pgBackRest wants it there); pgBackRest restores its newest backup.
restore() {
    local c=$1 run=$2 t
    rm -rf "$BENCH_DIR/restore-$c"
    as_user mkdir -m 0700 "$BENCH_DIR/restore-$c"
    if [[ $c == pgbackrest* ]]; then
        t=$(timed "$BENCH_DIR/restore-$c-$run.out" pgbackrest --config="$BENCH_DIR/$c.conf" --stanza=bench \
            --pg1-path="$BENCH_DIR/restore-$c" restore --process-max=2)
    else
        local bin=$walvault repo=$BENCH_DIR/repo-walvault enc=()
        [ "$c" != walvault_b ] || bin=$walvault_b
        [ "$c" != walvault-enc ] || repo=$BENCH_DIR/repo-$c enc=(--encryption-identity-file "$AGE_IDENTITY")
        t=$(timed "$BENCH_DIR/restore-$c-$run.out" "$bin" restore "run$run" --repo "$repo" \
            --pgdata "$BENCH_DIR/restore-$c" --parallel 2 "${enc[@]}")
    fi
    record "restore-$c" "$t"
    local got
    got=$(relation_files "$BENCH_DIR/restore-$c")
    [ "$got" = "$source_files" ] || {
        echo "$c restored other relation files than the source has:" >&2
        diff <(echo "$source_files") <(echo "$got") | head -n 20 >&2
        exit 1
    }
}
# The median of the numbers on standard input, one or more per line.
median() { tr -s ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# RUNS rounds, the order of the tools alternating, so that neither always goes first.
for ((run = 1; run <= RUNS; run++)); do
    order="pgbackrest walvault"
    [ $((run % 2)) -eq 1 ] || order="walvault pgbackrest"
    if [ "$ENCRYPT" = 1 ]; then  # each tool beside its encrypted self, the order reversed every other round
        order="pgbackrest pgbackrest-enc walvault walvault-enc"
        [ $((run % 2)) -eq 1 ] || order="walvault-enc walvault pgbackrest-enc pgbackrest"
    fi
    for c in $order; do backup "$c" "$run"; done
    restores=$order
    if [ -n "$walvault_b" ]; then  # B beside walvault, before it in every other round
        if [ $((run % 2)) -eq 1 ]; then restores="walvault_b $order"; else restores="$order walvault_b"; fi
    fi
    for c in $restores; do restore "$c" "$run"; done
done

# Where the time goes: walvault prints its copy time; pgBackRest's log has the phases' timestamps.
wv_copy=$(sed -n 's/.* in \([0-9.]*\) s (start.*/\1/p' "$BENCH_DIR"/backup-walvault-[0-9]*.out | median)
wv_rcopy=$(sed -n 's/^restored backup .* in \([0-9.]*\) s$/\1/p' "$BENCH_DIR"/restore-walvault-[0-9]*.out | median)
pb_copy=$(awk '/backup start archive =/ {split($2, a, ":"); s = a[1] * 3600 + a[2] * 60 + a[3]}
    /execute non-exclusive backup stop/ {split($2, a, ":"); printf "%.1f\n", a[1] * 3600 + a[2] * 60 + a[3] - s}' \
    "$BENCH_DIR/pgbackrest-log/bench-backup.log" | median)

# Stored sizes of the newest backup of each.
wv_stored=$(as_user "$walvault" list --json --repo "$BENCH_DIR/repo-walvault" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["backups"][-1]["stored_size"])')
pb_stored=$(pgbr info --output=json |
    python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["backup"][-1]["info"]["repository"]["size"])')

for kind in backup restore; do
    w=$(echo "${wall[$kind-walvault]}" | median) p=$(echo "${wall[$kind-pgbackrest]}" | median)
    printf '%s: walvault %.1f s, pgBackRest %.1f s, ratio %.2fx (pgBackRest / walvault, medians of %d; target >= 1.5x)\n' \
        "$kind" "$w" "$p" "$(ratio "$p" "$w")" "$RUNS"
    read -r -a ws <<<"${wall[$kind-walvault]}"
    read -r -a ps <<<"${wall[$kind-pgbackrest]}"
    rounds=""
    for ((i = 0; i < RUNS; i++)); do rounds+=" $(printf '%.1f/%.1f=%.2fx' "${ps[i]}" "${ws[i]}" "$(ratio "${ps[i]}" "${ws[i]}")")"; done
    printf '  rounds (pgBackRest/walvault):%s; best: walvault %.1f s, pgBackRest %.1f s; mean CPU (user+system): walvault %.1f s, pgBackRest %.1f s\n' \
        "$rounds" "$(printf '%s\n' "${ws[@]}" | sort -g | head -n 1)" "$(printf '%s\n' "${ps[@]}" | sort -g | head -n 1)" \
        "$(echo "${cpu[$kind-walvault]} / $RUNS" | bc -l)" "$(echo "${cpu[$kind-pgbackrest]} / $RUNS" | bc -l)"
done
printf 'stored: walvault %s MB, pgBackRest %s MB (one backup of %s MB); load average at the end %s\n' \
    "$(mb "$wv_stored")" "$(mb "$pb_stored")" "$source_mb" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'copy phase (median): backup walvault %s s, pgBackRest %s s; restore walvault %s s (the rest: checkpoint, WAL wait, start-up)\n' \
    "${wv_copy:-?}" "${pb_copy:-?}" "${wv_rcopy:-?}"
if [ -n "$walvault_b" ]; then
    w=$(echo "${wall[restore-walvault]}" | median) b=$(echo "${wall[restore-walvault_b]}" | median)
    printf '  restore walvault_b (%s, sha256 %s): %.1f s (rounds:%s), mean CPU %.1f s; walvault %.1f s (rounds:%s), mean CPU %.1f s; walvault_b / walvault %.2fx\n' \
        "$WALVAULT_BIN_B" "$(sha256sum "$walvault_b" | cut -c1-12)" "$b" "${wall[restore-walvault_b]}" \
        "$(echo "${cpu[restore-walvault_b]} / $RUNS" | bc -l)" "$w" "${wall[restore-walvault]}" \
        "$(echo "${cpu[restore-walvault]} / $RUNS" | bc -l)" "$(ratio "$b" "$w")"
fi

if [ "$ENCRYPT" = 1 ]; then
    check_encrypted "$BENCH_DIR/repo-walvault-enc"
    for kind in backup restore; do
        w=$(echo "${wall[$kind-walvault]}" | median) p=$(echo "${wall[$kind-pgbackrest]}" | median)
        we=$(echo "${wall[$kind-walvault-enc]}" | median) pe=$(echo "${wall[$kind-pgbackrest-enc]}" | median)
        target="no target"
        [ "$kind" = backup ] || target="target <= 1.15x: $(encryption_verdict "$we / $w" '<=' 1.15)"
        printf '%s encrypted: walvault-enc %.1f s / walvault %.1f s = %.2fx (%s); pgbackrest-enc %.1f s / walvault-enc = %.2fx (target >= 1.5x: %s; unencrypted pgBackRest / walvault %.2fx); pgbackrest-enc / pgBackRest %.2fx\n' \
            "$kind" "$we" "$w" "$(ratio "$we" "$w")" "$target" "$pe" "$(ratio "$pe" "$we")" \
            "$(encryption_verdict "$pe / $we" '>=' 1.5)" "$(ratio "$p" "$w")" "$(ratio "$pe" "$p")"
        printf '  rounds: walvault-enc%s, pgbackrest-enc%s; mean CPU (user+system): walvault-enc %.1f s, pgbackrest-enc %.1f s\n' \
            "${wall[$kind-walvault-enc]}" "${wall[$kind-pgbackrest-enc]}" "$(echo "${cpu[$kind-walvault-enc]} / $RUNS" | bc -l)" \
            "$(echo "${cpu[$kind-pgbackrest-enc]} / $RUNS" | bc -l)"
    done
    we_stored=$(as_user "$walvault" list --json --repo "$BENCH_DIR/repo-walvault-enc" --encryption-identity-file "$AGE_IDENTITY" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["backups"][-1]["stored_size"])')
    pe_stored=$(as_user pgbackrest --config="$BENCH_DIR/pgbackrest-enc.conf" --stanza=bench info --output=json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["backup"][-1]["info"]["repository"]["size"])')
    printf 'stored encrypted: walvault-enc %s MB, pgbackrest-enc %s MB; copy phase (median): backup walvault-enc %s s, restore walvault-enc %s s\n' \
        "$(mb "$we_stored")" "$(mb "$pe_stored")" \
        "$(sed -n 's/.* in \([0-9.]*\) s (start.*/\1/p' "$BENCH_DIR"/backup-walvault-enc-*.out | median)" \
        "$(sed -n 's/^restored backup .* in \([0-9.]*\) s$/\1/p' "$BENCH_DIR"/restore-walvault-enc-*.out | median)"
fi

# Correctness of the last round: walvault's manifest, and the same data after recovery.
as_user "$bindir/pg_verifybackup" -n -q "$BENCH_DIR/restore-walvault"
[ -z "$walvault_b" ] || as_user "$bindir/pg_verifybackup" -n -q "$BENCH_DIR/restore-walvault_b"
[ "$ENCRYPT" = 0 ] || as_user "$bindir/pg_verifybackup" -n -q "$BENCH_DIR/restore-walvault-enc"
checked=(walvault pgbackrest)
[ -z "$walvault_b" ] || checked+=(walvault_b)
[ "$ENCRYPT" = 0 ] || checked+=(walvault-enc pgbackrest-enc)
for c in "${checked[@]}"; do
    pgctl "$BENCH_DIR/restore-$c" start -o "-c archive_mode=off"
    wait_promoted "restore-$c"
    got=$(sql "$check_query")
    pgctl "$BENCH_DIR/restore-$c" stop -m immediate
    [ "$got" = "$expected" ] || { echo "$c restored \"$got\", the source had \"$expected\"" >&2; exit 1; }
done
echo "checked: ${#checked[@]} restores (${checked[*]}) have the source's $(echo "$source_files" | wc -l) relation files (paths and sizes)," \
    "pg_verifybackup passes on walvault's, and after recovery each gives the source's rows and balances ($expected)"

# ---- restore --delta: each copy, changed after its newest backup, brought back to that backup ----
# The change: 1 % of pgbench_accounts' rows, one aid range in the middle, updated: the pages of their old
# versions, the pages their new versions are appended to, and index pages. The share of the data
# directory's 8 kiB pages that differ from the backup is measured (round 1, walvault's copy). Each tool
# restores its newest backup (the last round's) in place, to the backup's end (promote, archiving off, so
# that the next round starts from a promoted cluster that archives nothing). Compared with the median full
# restore above, of a backup of the same data into an empty directory.
n_accounts=$((SCALE * 100000))
change_sql="UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid BETWEEN $((n_accounts / 2)) AND $((n_accounts / 2 + n_accounts / 100 - 1))"
# pages DIR OUT: a digest of every 8 kiB page of the files of DIR (pg_wal left out) into OUT;
# pages DIR OUT compare: how many pages of DIR now differ from OUT (or are new), and how many DIR has.
pages() {
    python3 - "$@" <<'PY'
import hashlib, os, pickle, sys
root, out = sys.argv[1], sys.argv[2]
digests = {}
for d, dirs, files in os.walk(root):
    dirs[:] = [x for x in dirs if os.path.join(d, x) != os.path.join(root, "pg_wal")]
    for f in files:
        p = os.path.join(d, f)
        with open(p, "rb") as fh:
            digests[os.path.relpath(p, root)] = [hashlib.blake2b(page, digest_size=8).digest()
                                                 for page in iter(lambda: fh.read(8192), b"")]
if len(sys.argv) < 4:
    pickle.dump(digests, open(out, "wb"))
else:
    before = pickle.load(open(out, "rb"))
    total = sum(len(v) for v in digests.values())
    changed = sum(1 for p, v in digests.items() for i, h in enumerate(v)
                  if i >= len(before.get(p, [])) or before[p][i] != h)
    print(changed, total)
PY
}
delta_restore() {
    local c=$1 run=$2 t
    if [ "$c" = pgbackrest ]; then
        t=$(timed "$BENCH_DIR/delta-$c-$run.out" pgbackrest --config="$pgbr_conf" --stanza=bench \
            --pg1-path="$BENCH_DIR/$c" restore --delta --process-max=2 --type=immediate --target-action=promote \
            --archive-mode=off)
    else
        t=$(timed "$BENCH_DIR/delta-$c-$run.out" "$walvault" restore "run$RUNS" --delta --repo "$BENCH_DIR/repo-walvault" \
            --pgdata "$BENCH_DIR/$c" --parallel 2 --target-immediate --target-action promote --archive-mode off)
    fi
    record "delta-$c" "$t"
}
DELTA_RUNS=${DELTA_RUNS:-$RUNS}
changed=""
for ((run = 1; run <= DELTA_RUNS; run++)); do
    order="pgbackrest walvault"
    [ $((run % 2)) -eq 1 ] || order="walvault pgbackrest"
    for c in $order; do
        [ "$run$c" != 1walvault ] || pages "$BENCH_DIR/$c" "$BENCH_DIR/pages.before"
        pgctl "$BENCH_DIR/$c" start  # after a delta restore: recovers to the backup's end and promotes
        wait_promoted "$c"
        sql "$change_sql" >/dev/null
        pgctl "$BENCH_DIR/$c" stop -m fast
        [ "$run$c" != 1walvault ] || changed=$(pages "$BENCH_DIR/$c" "$BENCH_DIR/pages.before" compare)
        delta_restore "$c" "$run"
    done
done
if [ "$DELTA_RUNS" -gt 0 ]; then  # DELTA_RUNS=0: no delta restore, nothing to report or check
    read -r changed_pages total_pages <<<"$changed"
    w=$(echo "${wall[delta-walvault]}" | median) p=$(echo "${wall[delta-pgbackrest]}" | median)
    fw=$(echo "${wall[restore-walvault]}" | median) fp=$(echo "${wall[restore-pgbackrest]}" | median)
    printf 'delta restore, %s of %s pages (%.1f %%) changed since the backup: walvault %.2f s, pgBackRest %.2f s, ratio %.2fx (pgBackRest / walvault, medians of %d; target >= 1.5x)\n' \
        "$changed_pages" "$total_pages" "$(echo "100 * $changed_pages / $total_pages" | bc -l)" "$w" "$p" "$(ratio "$p" "$w")" "$DELTA_RUNS"
    printf '  rounds: walvault%s, pgBackRest%s; mean CPU (user+system): walvault %.2f s, pgBackRest %.2f s\n' \
        "${wall[delta-walvault]}" "${wall[delta-pgbackrest]}" "$(echo "${cpu[delta-walvault]} / $DELTA_RUNS" | bc -l)" \
        "$(echo "${cpu[delta-pgbackrest]} / $DELTA_RUNS" | bc -l)"
    printf '  against a full restore of the same data: walvault full %.2f s / delta %.2f s = %.2fx (target >= 5x); pgBackRest full %.2f s / delta %.2f s = %.2fx\n' \
        "$fw" "$w" "$(ratio "$fw" "$w")" "$fp" "$p" "$(ratio "$fp" "$p")"
    echo "  walvault's last delta restore: $(grep '^restored backup' "$BENCH_DIR/delta-walvault-$DELTA_RUNS.out")"
    # Correctness: walvault's manifest; both copies recover to the backup and give the source's rows.
    as_user "$bindir/pg_verifybackup" -n -q "$BENCH_DIR/walvault"
    for c in walvault pgbackrest; do
        pgctl "$BENCH_DIR/$c" start
        wait_promoted "$c"
        got=$(sql "$check_query")
        pgctl "$BENCH_DIR/$c" stop -m immediate
        [ "$got" = "$expected" ] || { echo "$c's delta restore gave \"$got\", the source had \"$expected\"" >&2; exit 1; }
    done
    echo "checked: pg_verifybackup passes on walvault's delta-restored copy, and after recovery both copies give the source's rows and balances"
fi
stop_all
rm -rf "$BENCH_DIR"
