#!/usr/bin/env bash
# How long `walvault check` takes on a large repository, on a directory and on s3rver, with `pgbackrest info`
# on a comparable pgBackRest repository as the reference. No server runs: check is run without --dbname
# (the server's part is three small queries), so what is measured is what check reads of the repository.
#
# The repositories are fabricated, not archived: SEGMENTS WAL objects of a few bytes each under the key
# layout of core/repo/layout.h (wal/0000000100000000/000000010000000000000001.zst ...; check never decodes a
# segment), an identity.json, and BACKUPS backups, each a backup.json (a manifest of FILES files), a
# started.json and FILES data objects; the newest backup starts RECENT segments before the newest one.
# pgBackRest's is made by pgBackRest itself (stanza-create and a full backup of a freshly initdb'd, stopped
# cluster: --no-online), plus SEGMENTS WAL files fabricated in its archive layout
# (archive/bench/15-1/0000000100000000/000000010000000000000001-<sha1>.zst).
# On s3rver the same trees are copied into s3rver's data directory (BUCKET/KEY._S3rver_object), which is
# how s3rver stores what it is sent; uploading 50,000 objects through it would take longer than the rest.
# Each figure is the median of RUNS runs after one warm-up run (s3rver computes and stores an object's MD5 on
# its first listing).
# Usage: bench/check.sh     Settings: SEGMENTS (50000), BACKUPS (4), FILES (1000), RECENT (2000), RUNS (5),
# BENCH_DIR, BENCH_USER, BENCH_PORT, BENCH_BUILD (yes; "no" uses the installed walvault), WALVAULT_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."

SEGMENTS=${SEGMENTS:-50000}
BACKUPS=${BACKUPS:-4}
FILES=${FILES:-1000}
RECENT=${RECENT:-2000}
RUNS=${RUNS:-5}
BENCH_DIR=${BENCH_DIR:-/tmp/walvault-bench-check}
BENCH_USER=${BENCH_USER:-postgres}
PORT=${BENCH_PORT:-54351}
# shellcheck source=bench/lib.sh
. bench/lib.sh

trap 'stop_s3rver' EXIT
fresh_bench_dir
pin_walvault
repo=$BENCH_DIR/repo

# ---- the walvault repository ----
python3 - "$repo" "$SEGMENTS" "$BACKUPS" "$FILES" "$RECENT" <<'PY'
import json, os, sys, time
repo, segments, backups, files, recent = sys.argv[1], *map(int, sys.argv[2:])
seg_size = 16 << 20
per_log = (1 << 32) // seg_size
def name(tli, segno):
    return "%08X%08X%08X" % (tli, segno // per_log, segno % per_log)
def put(key, data=b"x"):
    path = os.path.join(repo, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
os.makedirs(repo)
put("identity.json", json.dumps({"format": 1, "system_identifier": "7000000000000000001", "pg_major": 15,
                                 "wal_segment_size": seg_size, "created": "2026-01-01T00:00:00Z"}).encode())
first = 1
for segno in range(first, first + segments):
    n = name(1, segno)
    put("wal/%s/%s.zst" % (n[:16], n), b"segment " + n.encode())
now = int(time.time())
last = first + segments - 1
for i in range(backups):
    # Backups spread over the archive, the newest RECENT segments before its end.
    start = last - recent - (backups - 1 - i) * ((segments - recent) // backups)
    label = "2026%02d01T000000Z" % (i + 1)
    stop_time = now - (backups - 1 - i) * 7 * 86400 - 3600
    ts = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    manifest = {"format": 2, "label": label, "start_time": ts(stop_time - 600), "stop_time": ts(stop_time),
                "start_lsn": "%X/%X" % (start * seg_size >> 32, (start * seg_size + 40) & 0xFFFFFFFF),
                "stop_lsn": "%X/%X" % (start * seg_size >> 32, (start * seg_size + 0x100) & 0xFFFFFFFF),
                "timeline": 1, "stop_next_xid": "1000", "pg_version_num": 150000,
                "system_identifier": "7000000000000000001", "wal_segment_size": seg_size, "compression": "zstd:3",
                "original_size": files * 8192, "stored_size": files * 100, "backup_label": "", "tablespace_map": "",
                "tablespaces": [], "directories": [{"path": "base", "mode": 448}],
                "files": [{"path": "base/5/%d" % (16384 + f), "size": 8192, "mtime": stop_time, "mode": 384,
                           "sha256": "0" * 64, "stored_size": 100} for f in range(files)]}
    put("backup/%s/started.json" % label, json.dumps({"label": label, "started": manifest["start_time"]}).encode())
    for f in range(files):
        put("backup/%s/data/base/5/%d.zst" % (label, 16384 + f))
    put("backup/%s/backup.json" % label, json.dumps(manifest).encode())
PY
[ "$(id -u)" -ne 0 ] || chown -R "$BENCH_USER" "$repo"

# ---- pgBackRest's repository: its own stanza and backup, the WAL fabricated ----
pgdata=$BENCH_DIR/pgdata
as_user "$bindir/initdb" -D "$pgdata" --no-sync -A trust >/dev/null
pgbr_conf() {  # $1: repo1 lines
    cat > "$BENCH_DIR/pgbackrest.conf" <<CONF
[global]
$1
repo1-retention-full=9
compress-type=zst
lock-path=$BENCH_DIR/pgbackrest-lock
log-path=$BENCH_DIR/pgbackrest-log
log-level-console=warn
log-level-file=off
start-fast=y

[bench]
pg1-path=$pgdata
pg1-port=$PORT
pg1-socket-path=$BENCH_DIR
CONF
    [ "$(id -u)" -ne 0 ] || chown "$BENCH_USER" "$BENCH_DIR/pgbackrest.conf"
}
pgbr() { as_user pgbackrest --config="$BENCH_DIR/pgbackrest.conf" --stanza=bench "$@"; }
# The WAL files, in pgBackRest's archive layout below $1 (each file: $2 appended to its name).
pgbr_wal() {
    python3 - "$1" "$SEGMENTS" "$2" <<'PY'
import os, sys
root, segments, suffix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
per_log = 256
for segno in range(1, 1 + segments):
    n = "%08X%08X%08X" % (1, segno // per_log, segno % per_log)
    d = os.path.join(root, n[:16])
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, n + "-" + "%040x" % segno + ".zst" + suffix), "wb") as f:
        f.write(b"x")
PY
}
mkdir -p "$BENCH_DIR/repo-pgbackrest"
[ "$(id -u)" -ne 0 ] || chown "$BENCH_USER" "$BENCH_DIR/repo-pgbackrest"
pgbr_conf "repo1-path=$BENCH_DIR/repo-pgbackrest"
pgbr --no-online stanza-create
pgbr --no-online --type=full backup
pgbr_wal "$BENCH_DIR/repo-pgbackrest/archive/bench/15-1" ""
[ "$(id -u)" -ne 0 ] || chown -R "$BENCH_USER" "$BENCH_DIR/repo-pgbackrest"

# Median of RUNS timings of a command (after one warm-up run whose output is checked by $1, a regex).
time_median() {
    local expect=$1; shift
    local out
    out=$("$@" 2>&1) || true
    if ! grep -Eq "$expect" <<<"$out"; then
        echo "unexpected output of $*:" >&2
        echo "$out" >&2
        exit 1
    fi
    local times=() i t0 t1
    for i in $(seq 1 "$RUNS"); do
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>&1 || true
        t1=$(date +%s.%N)
        times+=("$(echo "$t1 - $t0" | bc -l)")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk -v n="$RUNS" '{ a[NR] = $1 } END { printf "%.3f", a[int((n + 1) / 2)] }'
}

newest=$(printf '%08X%08X%08X' 1 $((SEGMENTS / 256)) $((SEGMENTS % 256)))
walvault_ok="^WALVAULT OK - .*wal-continuity OK: no gap from backup .* to \"$newest\""
pgbr_ok="wal archive min/max \(15\): 000000010000000000000001/$newest"

echo "machine: $(nproc) cores; $(pgbackrest version); $("$walvault" --version)"
echo "repository: $SEGMENTS WAL objects, $BACKUPS backups of $FILES files, the newest $RECENT segments before the end"

dir_walvault=$(time_median "$walvault_ok" as_user "$walvault" check --repo "$repo")
dir_pgbr=$(time_median "$pgbr_ok" pgbr info)
echo "directory: walvault check $dir_walvault s (target <= 1 s); pgbackrest info $dir_pgbr s"

# ---- the same on s3rver ----
start_s3rver walvault pgbackrest
python3 - "$repo" "$S3_DATA/walvault/main" "$BENCH_DIR/repo-pgbackrest" "$S3_DATA/pgbackrest/repo" <<'PY'
import os, shutil, sys
for src, dst in ((sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4])):
    for d, _, names in os.walk(src):
        out = os.path.join(dst, os.path.relpath(d, src))
        os.makedirs(out, exist_ok=True)
        for n in names:
            shutil.copy2(os.path.join(d, n), os.path.join(out, n + "._S3rver_object"))
PY
s3_flags=(--repo s3://walvault/main --s3-endpoint "$S3_ENDPOINT" --s3-region us-east-1
    --s3-credentials-file "$S3_CREDENTIALS" --s3-ca-file "$S3_CA")
pgbr_conf "$(pgbackrest_s3_repo pgbackrest /repo)"

s3_walvault=$(time_median "$walvault_ok" "$walvault" check "${s3_flags[@]}")
s3_pgbr=$(time_median "$pgbr_ok" pgbr info)
echo "s3rver: walvault check $s3_walvault s (target <= 3 s); pgbackrest info $s3_pgbr s"
