#!/usr/bin/env bash
# Expire benchmark: walvault expire against pgBackRest expire on repositories of the same shape, BACKUPS
# full backups (default 10) and about WAL_OBJECTS WAL objects (default 20,000), keeping the newest backup
# (retention: 1 full backup), which removes about 90 % of the objects. Prints, for a directory
# repository and for s3rver, each tool's time (median of RUNS), objects deleted per second, the ratio
# pgBackRest/walvault (target >= 2x) and walvault's peak RSS (/usr/bin/time; target < 64 MiB).
#
# The fixture, built once per run of the script: one small cluster (initdb --wal-segsize=1, so a segment
# is 1 MiB) copied twice; one copy archives with walvault (archive_library) and is backed up by
# `walvault backup`, the other with `pgbackrest archive-push` and `pgbackrest backup --type=full`. After
# each backup the cluster is stopped and pg_resetwal -l moves its WAL position about WAL_OBJECTS/BACKUPS
# segments ahead; the skipped segments, which no server wrote, are written into each repository as
# objects of the right name (walvault: wal/TTTTTTTTXXXXXXXX/SEGMENT.zst, docs/repository-format.md;
# pgBackRest: archive/bench/15-1/TTTTTTTTXXXXXXXX/SEGMENT-SHA1.zst), each a copy of a real archived
# object of that tool: neither tool's expire reads a WAL object, they list and delete. Everything else
# (backups, .backup files, identity.json, archive.info, backup.info) is what the tools wrote.
# Each timed run expires a fresh copy of the fixture; the objects before and after are counted, and
# each tool must have kept its newest backup and exactly the WAL objects from that backup's start
# segment on (the segment named by the newest .backup file in its archive), and removed the rest.
# For the directory, the file system's own floor is printed too: `rm -rf` of the same files, and `rm` by 8
# processes at once.
# s3rver (bench/lib.sh, start_s3rver) serves the same fixtures in two buckets, put straight into its
# data directory as it stores objects (KEY._S3rver_object; it computes the ETag on first use).
# pgBackRest's expire does not work on s3rver 3.7.1: listed with delimiter "/", s3rver reports a common
# prefix only for a "directory" that holds an object directly, so pgBackRest never sees the archive id
# (archive/bench/15-1/ holds only directories) nor a backup whose backup.manifest it has just deleted,
# and leaves their objects. pgBackRest is run once on s3rver and its counts printed, without a ratio;
# walvault's S3 figures stand alone (docs/benchmarks.md, "Expire").
#
# Usage: bench/expire.sh
# Settings: WAL_OBJECTS (20000), BACKUPS (10), RUNS (3), REPOS ("posix s3"), TOOLS ("pgbackrest walvault";
# one of them: time only that one, no ratio), WALVAULT_ARGS (more arguments for walvault expire, such as
# "--parallel 8"; default none: the tool's defaults), BENCH_DIR, BENCH_USER, BENCH_PORT, BENCH_BUILD (yes; "no"
# uses the walvault already installed), WALVAULT_BIN (measure that walvault binary instead of the
# installed one).
set -euo pipefail
cd "$(dirname "$0")/.."

WAL_OBJECTS=${WAL_OBJECTS:-20000}
BACKUPS=${BACKUPS:-10}
RUNS=${RUNS:-3}
REPOS=${REPOS:-posix s3}
TOOLS=${TOOLS:-pgbackrest walvault}
BENCH_DIR=${BENCH_DIR:-/tmp/walvault-bench-expire}
BENCH_USER=${BENCH_USER:-postgres}
PORT=${BENCH_PORT:-54341}
# shellcheck source=bench/lib.sh
. bench/lib.sh

stop_all() {
    stop_bench_clusters
    stop_s3rver
}
trap stop_all EXIT
stop_all
fresh_bench_dir
pin_walvault

JUMP=$((WAL_OBJECTS / BACKUPS))
SEGS_PER_XLOGID=4096  # 1 MiB segments: 2^32 / 2^20
FIX=$BENCH_DIR/fixture
pgbr_conf=$BENCH_DIR/pgbackrest.conf
as_user mkdir -p "$FIX" "$BENCH_DIR/pgbackrest-spool" "$BENCH_DIR/pgbackrest-lock" "$BENCH_DIR/pgbackrest-log"

# pgBackRest's configuration for a posix repository at $1, or (with "s3") for the bench-pgbackrest bucket.
write_pgbr_conf() {
    local repo="repo1-path=$1"
    [ "${2:-}" != s3 ] || repo=$(pgbackrest_s3_repo bench-pgbackrest /repo)
    cat > "$pgbr_conf" <<CONF
[global]
$repo
spool-path=$BENCH_DIR/pgbackrest-spool
lock-path=$BENCH_DIR/pgbackrest-lock
log-path=$BENCH_DIR/pgbackrest-log
log-level-console=warn
log-level-file=info
compress-type=zst
[bench]
pg1-path=$BENCH_DIR/cluster-pgbackrest
pg1-port=$PORT
pg1-socket-path=$BENCH_DIR
CONF
    chown "$BENCH_USER" "$pgbr_conf" 2>/dev/null || true
}
pgbr() { as_user pgbackrest --config="$pgbr_conf" --stanza=bench "$@"; }

# The WAL objects of a repository: one line per object, its WAL file name (segment, or segment.OFFSET.backup).
wal_names() {
    case $1 in
        walvault) find "$2/wal" -type f -name '[0-9A-F]*.zst' -printf '%f\n' | sed 's/\.zst$//' ;;
        pgbackrest) find "$2/archive" -type f -name '[0-9A-F]*' -printf '%f\n' | sed -E 's/-[0-9a-f]{40}(\.zst)?$//' ;;
    esac
}
# The highest segment a repository holds (24 hex digits).
last_segment() { wal_names "$1" "$2" | grep -E '^[0-9A-F]{24}$' | sort | tail -n 1; }
# The start segment of the newest backup: the newest .backup file's segment.
newest_backup_start() { wal_names "$1" "$2" | grep -E '\.backup$' | sort | tail -n 1 | cut -c1-24; }

# Writes segments FIRST..LAST (segment numbers, timeline 1) into the repository of TOOL at REPO, each a
# copy of the object SAMPLE.
fabricate() {
    as_user python3 - "$@" <<'PY'
import hashlib, os, shutil, sys
tool, repo, first, last, sample = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
data = open(sample, 'rb').read()
per = 4096
for n in range(first, last + 1):
    d = '00000001%08X' % (n // per)
    name = d + '%08X' % (n % per)
    if tool == 'walvault':
        path = os.path.join(repo, 'wal', d, name + '.zst')
    else:
        sha = hashlib.sha1(name.encode()).hexdigest()
        path = os.path.join(repo, 'archive', 'bench', '15-1', d, name + '-' + sha + '.zst')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)
PY
}
seg_number() { echo $((16#${1:8:8} * SEGS_PER_XLOGID + 16#${1:16:8})); }
seg_name() { printf '00000001%08X%08X' $(($1 / SEGS_PER_XLOGID)) $(($1 % SEGS_PER_XLOGID)); }

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(pgbackrest version); $("$walvault" --version) (sha256 $(sha256sum "$walvault" | cut -c1-12), expire arguments: ${WALVAULT_ARGS:-none}); load average $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- the fixture -----------------------------------------------------------------------------------
t0=$(date +%s)
as_user "$bindir/initdb" -D "$BENCH_DIR/template" -A trust --wal-segsize=1 >/dev/null
cat >> "$BENCH_DIR/template/postgresql.conf" <<CONF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$BENCH_DIR'
archive_mode = on
wal_keep_size = 0
max_wal_size = '64MB'
min_wal_size = '8MB'
autovacuum = off
log_min_messages = warning
CONF
for c in walvault pgbackrest; do
    as_user cp -a "$BENCH_DIR/template" "$BENCH_DIR/cluster-$c"
    as_user mkdir -m 0700 "$FIX/repo-$c"
done
cat >> "$BENCH_DIR/cluster-walvault/postgresql.conf" <<CONF
archive_library = 'walvault'
walvault.repo = '$FIX/repo-walvault'
CONF
cat >> "$BENCH_DIR/cluster-pgbackrest/postgresql.conf" <<CONF
archive_command = 'pgbackrest --config=$pgbr_conf --stanza=bench archive-push %p'
CONF
write_pgbr_conf "$FIX/repo-pgbackrest"

# BACKUPS backups with each tool, each followed by a jump of JUMP segments that the fixture fills in.
for c in walvault pgbackrest; do
    dir=$BENCH_DIR/cluster-$c
    repo=$FIX/repo-$c
    pgctl "$dir" start
    [ "$c" = walvault ] || pgbr stanza-create >/dev/null
    sql "CREATE TABLE t (i int)"
    for ((b = 1; b <= BACKUPS; b++)); do
        sql "INSERT INTO t SELECT generate_series(1, 1000)" >/dev/null
        if [ "$c" = walvault ]; then
            as_user "$walvault" backup --repo "$repo" --dbname "host=$BENCH_DIR port=$PORT dbname=postgres" \
                --checkpoint fast --label "b$b" >/dev/null
        else
            # pgBackRest expires after each backup: keep them all here
            pgbr backup --type=full --start-fast --repo1-retention-full="$BACKUPS" >/dev/null
        fi
        sql "SELECT pg_switch_wal()" >/dev/null
        pgctl "$dir" stop -m fast  # the archiver archives every ready segment before it exits
        redo=$(as_user "$bindir/pg_controldata" -D "$dir" | sed -n "s/^Latest checkpoint's REDO WAL file: *//p")
        next=$(($(seg_number "$redo") + JUMP))
        last=$(last_segment "$c" "$repo")
        sample=$(find "$repo/$([ "$c" = walvault ] && echo wal || echo archive)" -type f -name "$last*" | head -n 1)
        fabricate "$c" "$repo" $(($(seg_number "$last") + 1)) $((next - 1)) "$sample"
        as_user "$bindir/pg_resetwal" -l "$(seg_name "$next")" -D "$dir" >/dev/null
        pgctl "$dir" start
    done
    pgctl "$dir" stop -m fast
done

# Files of a repository (every object, WAL or not), and its WAL objects.
count_files() { find "$1" -type f ! -name '*._S3rver_metadata.json' ! -name '*._S3rver_object.md5' | wc -l; }
declare -A fix_files=() fix_wal=() fix_start=() fix_keep=()
for c in walvault pgbackrest; do
    repo=$FIX/repo-$c
    fix_files[$c]=$(count_files "$repo")
    fix_wal[$c]=$(wal_names "$c" "$repo" | wc -l)
    fix_start[$c]=$(newest_backup_start "$c" "$repo")
    fix_keep[$c]=$(wal_names "$c" "$repo" | awk -v s="${fix_start[$c]}" 'substr($0, 1, 24) >= s' | wc -l)
done
wv_backups=$(find "$FIX/repo-walvault/backup" -mindepth 1 -maxdepth 1 -type d | wc -l)
pb_backups=$(pgbr info --output=json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)[0]["backup"]))')
echo "== fixture ($(($(date +%s) - t0)) s): walvault ${fix_files[walvault]} files, ${fix_wal[walvault]} WAL objects, $wv_backups backups;" \
    "pgBackRest ${fix_files[pgbackrest]} files, ${fix_wal[pgbackrest]} WAL objects, $pb_backups backups;" \
    "expected to keep ${fix_keep[walvault]} and ${fix_keep[pgbackrest]} WAL objects (from ${fix_start[walvault]} and ${fix_start[pgbackrest]})"

# ---- the timed expires -----------------------------------------------------------------------------
# s3rver's form of a repository: every file F as F._S3rver_object, below BUCKET/repo.
s3_copy() {
    python3 - "$1" "$2" <<'PY'
import os, shutil, sys
src, dst = sys.argv[1], sys.argv[2]
for root, dirs, files in os.walk(src):
    rel = os.path.relpath(root, src)
    os.makedirs(os.path.join(dst, rel), exist_ok=True)
    for f in files:
        shutil.copyfile(os.path.join(root, f), os.path.join(dst, rel, f + '._S3rver_object'))
PY
}
# The s3rver-side fixture is made once per run of the script and copied for each timed run.
if [[ " $REPOS " == *" s3 "* ]]; then
    start_s3rver bench-walvault bench-pgbackrest
    for c in walvault pgbackrest; do s3_copy "$FIX/repo-$c" "$FIX/s3-$c"; done
fi

# A fresh copy of TOOL's fixture where the timed expire will find it; prints the directory to count in.
reset_repo() {
    local c=$1 kind=$2 where
    if [ "$kind" = posix ]; then
        where=$BENCH_DIR/repo-$c
        rm -rf "$where"
        cp -a "$FIX/repo-$c" "$where"
    else
        where=$S3_DATA/bench-$c/repo
        rm -rf "$where"
        cp -a "$FIX/s3-$c" "$where"
    fi
    sync
    echo "$where"
}
# The objects below a directory of a repository as paths relative to it, in a directory repository or in
# s3rver's data directory (KEY._S3rver_object, with its sidecar files left out).
objects_in() {
    [ -d "$1" ] || return 0
    find "$1" -type f ! -name '*._S3rver_metadata.json' ! -name '*._S3rver_object.md5' -printf '%P\n' |
        sed 's/\._S3rver_object$//'
}

declare -A wall=() rss=() deleted=()
expire_once() {
    local c=$1 kind=$2 run=$3 where
    local log=$BENCH_DIR/expire-$c-$kind-$run.out tfile=$BENCH_DIR/time-$c-$kind-$run
    where=$(reset_repo "$c" "$kind")
    local before after
    before=$(count_files "$where")
    local cmd
    if [ "$c" = walvault ]; then
        local repo_args=(--repo "$where")
        [ "$kind" = posix ] || repo_args=(--repo s3://bench-walvault/repo --s3-endpoint "$S3_ENDPOINT" \
            --s3-region us-east-1 --s3-credentials-file "$S3_CREDENTIALS" --s3-ca-file "$S3_CA")
        # shellcheck disable=SC2206 # WALVAULT_ARGS: words
        cmd=("$walvault" expire "${repo_args[@]}" --retain-full 1 ${WALVAULT_ARGS:-})
    else
        write_pgbr_conf "$where" "$([ "$kind" = s3 ] && echo s3)"
        cmd=(pgbackrest --config="$pgbr_conf" --stanza=bench --repo1-retention-full=1 expire)
    fi
    [ "$kind" = posix ] || chown -R root "$where"
    [ "$kind" = s3 ] || chown -R "$BENCH_USER" "$where"
    as_user /usr/bin/time -f '%e %M' -o "$tfile" "${cmd[@]}" >"$log" 2>&1 || {
        echo "failed: ${cmd[*]} (log $log):" >&2; tail -n 20 "$log" >&2; exit 1
    }
    after=$(count_files "$where")
    local w m
    read -r w m < <(tail -n 1 "$tfile")
    wall[$c-$kind]="${wall[$c-$kind]:-} $w"
    rss[$c-$kind]="${rss[$c-$kind]:-} $m"
    deleted[$c-$kind]=$((before - after))
    # pgBackRest on s3rver: see the header; reported, not checked, no ratio.
    if [ "$c-$kind" = pgbackrest-s3 ]; then
        echo "  pgbackrest s3 run $run: $w s, deleted $((before - after)) of $before files (kept $after), max RSS $((m / 1024)) MiB:" \
            "not comparable, s3rver's listing hides the backup and archive directories from it"
        return 0
    fi
    # What must remain: the newest backup and the WAL from its start on, nothing older.
    local kept_wal kept_old kept_backups
    if [ "$c" = walvault ]; then
        kept_wal=$(objects_in "$where/wal" | sed 's|.*/||' | grep -E '^[0-9A-F]{24}' | sed 's/\.zst$//')
        kept_backups=$(objects_in "$where/backup" | cut -d/ -f1 | sort -u | tr '\n' ' ')
        [ "$kept_backups" = "b$BACKUPS " ] || { echo "walvault ($kind) kept backups: $kept_backups" >&2; exit 1; }
    else
        kept_wal=$(objects_in "$where/archive" | sed 's|.*/||' | grep -E '^[0-9A-F]{24}' | sed -E 's/-[0-9a-f]{40}(\.zst)?$//')
        kept_backups=$(objects_in "$where/backup/bench" | cut -d/ -f1 | grep -E '^[0-9]{8}-[0-9]{6}F$' | sort -u | wc -l)
        [ "$kept_backups" -eq 1 ] || { echo "pgBackRest ($kind) kept $kept_backups backups" >&2; exit 1; }
    fi
    kept_old=$(echo "$kept_wal" | awk -v s="${fix_start[$c]}" 'NF && substr($0, 1, 24) < s' | wc -l)
    local n
    n=$(echo "$kept_wal" | grep -c .)
    [ "$n" -eq "${fix_keep[$c]}" ] && [ "$kept_old" -eq 0 ] || {
        echo "$c ($kind) kept $n WAL objects ($kept_old older than ${fix_start[$c]}), expected ${fix_keep[$c]}" >&2
        exit 1
    }
    echo "  $c $kind run $run: $w s, deleted $((before - after)) of $before files (kept $after: 1 backup, $n WAL objects), max RSS $((m / 1024)) MiB"
}

median() { tr -s ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# The file system's own cost of removing the same files, once, on a copy of pgBackRest's fixture: one
# `rm -rf` (one unlink after another, as both tools remove files), and `rm` of every file by 8 processes.
floor_rm() {
    local t1 t8 n
    rm -rf "$BENCH_DIR/rm-floor"
    cp -a "$FIX/repo-pgbackrest" "$BENCH_DIR/rm-floor"
    n=$(count_files "$BENCH_DIR/rm-floor")
    sync
    t1=$( { TIMEFORMAT=%R; time rm -rf "$BENCH_DIR/rm-floor"; } 2>&1 )
    cp -a "$FIX/repo-pgbackrest" "$BENCH_DIR/rm-floor"
    sync
    t8=$( { TIMEFORMAT=%R; time (find "$BENCH_DIR/rm-floor" -type f -print0 | xargs -0 -P 8 -n 500 rm -f); } 2>&1 )
    rm -rf "$BENCH_DIR/rm-floor"
    printf '  file system: rm -rf of %d files %.2f s (%.0f files/s); rm by 8 processes %.2f s (%.0f files/s)\n' \
        "$n" "$t1" "$(echo "$n / $t1" | bc -l)" "$t8" "$(echo "$n / $t8" | bc -l)"
}
for kind in $REPOS; do
    echo "== $kind"
    [ "$kind" != posix ] || floor_rm
    for ((run = 1; run <= RUNS; run++)); do
        order="pgbackrest walvault"
        [ $((run % 2)) -eq 1 ] || order="walvault pgbackrest"
        for c in $order; do
            [[ " $TOOLS " == *" $c "* ]] || continue
            [ "$c-$kind" != pgbackrest-s3 ] || [ "$run" -eq 1 ] || continue
            expire_once "$c" "$kind" "$run"
        done
    done
    if [ "$kind" = s3 ] && [[ " $TOOLS " == *" walvault "* ]]; then
        w=$(echo "${wall[walvault-$kind]}" | median)
        wm=$(echo "${rss[walvault-$kind]}" | tr -s ' ' '\n' | sort -g | tail -n 1)
        printf 'expire s3: walvault %.2f s (%.0f objects/s; median of %d, rounds:%s); max RSS %.1f MiB (target < 64 MiB); no ratio (see above)\n' \
            "$w" "$(echo "${deleted[walvault-$kind]} / $w" | bc -l)" "$RUNS" "${wall[walvault-$kind]}" "$(echo "$wm / 1024" | bc -l)"
        continue
    fi
    [ "$TOOLS" = "pgbackrest walvault" ] || continue
    w=$(echo "${wall[walvault-$kind]}" | median) p=$(echo "${wall[pgbackrest-$kind]}" | median)
    wm=$(echo "${rss[walvault-$kind]}" | tr -s ' ' '\n' | sort -g | tail -n 1)
    pm=$(echo "${rss[pgbackrest-$kind]}" | tr -s ' ' '\n' | sort -g | tail -n 1)
    printf 'expire %s: walvault %.2f s (%.0f objects/s), pgBackRest %.2f s (%.0f objects/s), ratio %.2fx (pgBackRest / walvault, medians of %d; target >= 2x); max RSS walvault %.1f MiB (target < 64 MiB), pgBackRest %.1f MiB\n' \
        "$kind" "$w" "$(echo "${deleted[walvault-$kind]} / $w" | bc -l)" "$p" "$(echo "${deleted[pgbackrest-$kind]} / $p" | bc -l)" \
        "$(echo "$p / $w" | bc -l)" "$RUNS" "$(echo "$wm / 1024" | bc -l)" "$(echo "$pm / 1024" | bc -l)"
    read -r -a ws <<<"${wall[walvault-$kind]}"
    read -r -a ps <<<"${wall[pgbackrest-$kind]}"
    rounds=""
    for ((i = 0; i < RUNS; i++)); do rounds+=" $(printf '%.2f/%.2f=%.2fx' "${ps[i]}" "${ws[i]}" "$(echo "${ps[i]} / ${ws[i]}" | bc -l)")"; done
    echo "  rounds (pgBackRest/walvault):$rounds"
done
echo "load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
stop_all
rm -rf "$BENCH_DIR"
