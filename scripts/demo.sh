#!/usr/bin/env bash
# The walvault demo: builds and installs walvault, starts a throwaway PostgreSQL 15 cluster that archives
# to a local directory repository, generates WAL with pgbench, and shows what was archived and that the
# stock zstd tool restores it byte for byte. Then the whole loop: a base backup, more work, an accident
# (a dropped table), and a point-in-time restore to just before it into a second data directory, which
# starts and has the table back. Leaves everything under $DEMO_DIR and stops both clusters.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_DIR=${DEMO_DIR:-/tmp/walvault-demo}
DEMO_PORT=${DEMO_PORT:-54329}
DEMO_USER=${DEMO_USER:-postgres}   # PostgreSQL refuses to run as root

./scripts/deps.sh
./scripts/build.sh
bindir=$(pg_config --bindir)

as_user() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u "$DEMO_USER" -- "$@"; else "$@"; fi
}
[ "$(id -u)" -eq 0 ] || DEMO_USER=$(id -un)
psql_demo() { as_user "$bindir/psql" -X -h "$DEMO_DIR" -p "$DEMO_PORT" -d postgres "$@"; }

if [ -f "$DEMO_DIR/data/postmaster.pid" ]; then
    as_user "$bindir/pg_ctl" -D "$DEMO_DIR/data" -m fast stop >/dev/null 2>&1 || true
fi
rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR"
[ "$(id -u)" -ne 0 ] || chown "$DEMO_USER" "$DEMO_DIR"

echo "== a throwaway cluster in $DEMO_DIR/data, archiving to $DEMO_DIR/repo"
as_user "$bindir/initdb" -D "$DEMO_DIR/data" -A trust >/dev/null
cat >> "$DEMO_DIR/data/postgresql.conf" <<CONF
port = $DEMO_PORT
listen_addresses = ''
unix_socket_directories = '$DEMO_DIR'
shared_preload_libraries = 'walvault'
archive_mode = on
archive_library = 'walvault'
walvault.repo = '$DEMO_DIR/repo'
walvault.compression = 'zstd:3'
wal_keep_size = '1GB'
CONF
as_user "$bindir/pg_ctl" -D "$DEMO_DIR/data" -l "$DEMO_DIR/server.log" -w start >/dev/null
trap 'as_user "$bindir/pg_ctl" -D "$DEMO_DIR/data" -m fast stop >/dev/null 2>&1 || true' EXIT

psql_demo -q -c "CREATE EXTENSION walvault"
echo "== generating WAL: pgbench -i -s 5, then 2000 transactions"
as_user "$bindir/pgbench" -h "$DEMO_DIR" -p "$DEMO_PORT" -i -s 5 -q postgres >/dev/null 2>&1
as_user "$bindir/pgbench" -h "$DEMO_DIR" -p "$DEMO_PORT" -t 2000 -c 2 postgres >/dev/null 2>&1
psql_demo -qAt -c "SELECT pg_switch_wal()" >/dev/null

echo "== waiting for the archiver to catch up"
for _ in $(seq 1 120); do
    pending=$(psql_demo -qAt -c "SELECT pending_count FROM walvault_status()")
    [ "$pending" = 0 ] && break
    sleep 0.5
done

echo "== SELECT * FROM walvault_status();"
psql_demo -x -c "SELECT * FROM walvault_status()"
echo "== SELECT * FROM pg_stat_archiver;"
psql_demo -x -c "SELECT archived_count, last_archived_wal, failed_count FROM pg_stat_archiver"

echo "== the repository"
(cd "$DEMO_DIR/repo" && find . -type f | sort | head -20 && echo "   ($(find . -type f | wc -l) files, $(du -sh . | cut -f1))")
cat "$DEMO_DIR/repo/identity.json"

last=$(psql_demo -qAt -c "SELECT last_archived_wal FROM walvault_status()")
obj="$DEMO_DIR/repo/wal/${last:0:16}/$last.zst"
echo "== zstd -d restores $last byte for byte"
echo "   original:  $(sha256sum < "$DEMO_DIR/data/pg_wal/$last" | cut -d' ' -f1)"
echo "   restored:  $(zstd -dqc "$obj" | sha256sum | cut -d' ' -f1)"
echo "   metadata:  $(tail -c 4096 "$obj" | grep -ao '{"format".*}')"
walvault() { as_user "$bindir/walvault" "$@" --repo "$DEMO_DIR/repo"; }
echo "== walvault backup"
walvault backup --dbname "host=$DEMO_DIR port=$DEMO_PORT dbname=postgres" --checkpoint fast
echo "== more work after the backup, then an accident"
as_user "$bindir/pgbench" -h "$DEMO_DIR" -p "$DEMO_PORT" -t 500 -c 2 postgres >/dev/null 2>&1
before=$(psql_demo -qAt -c "SELECT count(*) || ' accounts, balance sum ' || sum(abalance) FROM pgbench_accounts")
sleep 1
target=$(psql_demo -qAt -c "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
sleep 1
psql_demo -q -c "DROP TABLE pgbench_accounts"
echo "   pgbench_accounts before: $before; dropped after $target"
psql_demo -qAt -c "SELECT pg_switch_wal()" >/dev/null
for _ in $(seq 1 120); do
    [ "$(psql_demo -qAt -c "SELECT pending_count FROM walvault_status()")" = 0 ] && break
    sleep 0.5
done
echo "== walvault list"
walvault list
as_user "$bindir/pg_ctl" -D "$DEMO_DIR/data" -m fast stop >/dev/null
trap - EXIT

echo "== walvault restore --target-time '$target' --target-action promote"
walvault restore --pgdata "$DEMO_DIR/restored" --target-time "$target" --target-action promote
as_user "$bindir/pg_verifybackup" -n -q "$DEMO_DIR/restored" && echo "   pg_verifybackup: the restored files match the backup"
sed -i "s/^port = $DEMO_PORT/port = $((DEMO_PORT + 1))/" "$DEMO_DIR/restored/postgresql.conf"
as_user "$bindir/pg_ctl" -D "$DEMO_DIR/restored" -l "$DEMO_DIR/restored.log" -w start >/dev/null
trap 'as_user "$bindir/pg_ctl" -D "$DEMO_DIR/restored" -m fast stop >/dev/null 2>&1 || true' EXIT
for _ in $(seq 1 120); do
    [ "$(psql_demo -p $((DEMO_PORT + 1)) -qAt -c "SELECT pg_is_in_recovery()")" = f ] && break
    sleep 0.5
done
after=$(psql_demo -p $((DEMO_PORT + 1)) -qAt -c "SELECT count(*) || ' accounts, balance sum ' || sum(abalance) FROM pgbench_accounts")
echo "   pgbench_accounts after point-in-time recovery: $after"
[ "$after" = "$before" ] || { echo "walvault demo: the restored table differs from the original"; exit 1; }
grep -E "recovery stopping|restored log file" "$DEMO_DIR/restored.log" | tail -3 | sed 's/^/   /'
echo "== done; server logs: $DEMO_DIR/server.log, $DEMO_DIR/restored.log"
