#!/usr/bin/env bash
# walvault receive against pg_receivewal, on one cluster under a pgbench write load, same run:
#  1. throughput: a backlog of WAL is made with both slots held (pgbench -T LOAD_SECONDS), then each client
#     alone streams it from its slot to the backlog's end: pg_receivewal into a local directory (--endpos),
#     walvault receive into a directory repository (until receive --status shows it durable). MB/s of WAL
#     and the peak RSS of each (/usr/bin/time -v).
#  2. commit latency: pgbench with synchronous_commit = local, then with walvault receive --synchronous named
#     in synchronous_standby_names (a commit returns once its WAL is in the repository): p50/p99 of the
#     per-transaction latencies (pgbench --log), and the same with pg_receivewal --synchronous as the
#     synchronous standby for reference.
#  3. commit -> durable in the repository without --synchronous (the default receive_flush_interval 5s and
#     receive_flush_bytes 1MB), under the same pgbench load: one session commits a row every PROBE_GAP
#     seconds for PROBE_SECONDS and waits, inside the server, until the slot's restart_lsn (the flush
#     position the receiver reports, which is what is durable in the repository) reaches the WAL insert
#     position read right after the commit (at or past the commit's end: the figure errs on the long side).
#     p50/p99/max of that time, and the largest lag (WAL not yet durable) seen at a commit.
# Usage: bench/receive.sh     Settings: REPO (posix | s3: a bucket of one s3rver over HTTPS on 127.0.0.1,
# bench/lib.sh start_s3rver), ENCRYPT (0; 1: walvault receive encrypts to an age-keygen recipient),
# LOAD_SECONDS (20), CLIENTS (4), SCALE (10), PROBE_SECONDS (30), PROBE_GAP (0.2),
# BENCH_DIR, BENCH_USER, BENCH_PORT, BENCH_BUILD (yes; "no" uses the installed walvault), WALVAULT_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."

LOAD_SECONDS=${LOAD_SECONDS:-20}
CLIENTS=${CLIENTS:-4}
SCALE=${SCALE:-10}
BENCH_DIR=${BENCH_DIR:-/tmp/walvault-bench-receive}
BENCH_USER=${BENCH_USER:-postgres}
PORT=${BENCH_PORT:-54361}
PROBE_SECONDS=${PROBE_SECONDS:-30}
PROBE_GAP=${PROBE_GAP:-0.2}
REPO=${REPO:-posix}
ENCRYPT=${ENCRYPT:-0}
case $REPO in posix | s3) ;; *) echo "REPO must be posix or s3, not $REPO" >&2; exit 1 ;; esac
# shellcheck source=bench/lib.sh
. bench/lib.sh

RECEIVER_PID=""
cleanup() {
    [ -z "$RECEIVER_PID" ] || kill "$RECEIVER_PID" 2>/dev/null || true
    stop_bench_clusters
    stop_s3rver
}
trap cleanup EXIT
stop_bench_clusters
fresh_bench_dir
pin_walvault

data=$BENCH_DIR/data
as_user "$bindir/initdb" -D "$data" -A trust >/dev/null
cat >> "$data/postgresql.conf" <<EOF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$BENCH_DIR'
wal_level = replica
max_wal_senders = 8
max_replication_slots = 8
max_wal_size = '4GB'
EOF
pgctl "$data" start
as_user "$bindir/pgbench" -q -i -s "$SCALE" -h "$BENCH_DIR" -p "$PORT" postgres >/dev/null 2>&1
conn="host=$BENCH_DIR port=$PORT dbname=postgres user=$BENCH_USER"
repo=$BENCH_DIR/repo
as_user mkdir -p "$repo" "$BENCH_DIR/receivewal"
repo_args=(--repo "$repo")
if [ "$REPO" = s3 ]; then
    start_s3rver bench-receive
    repo_args=(--repo s3://bench-receive/main --s3-endpoint "$S3_ENDPOINT" --s3-region us-east-1
        --s3-credentials-file "$S3_CREDENTIALS" --s3-ca-file "$S3_CA")
fi
repo_name=$([ "$REPO" = s3 ] && echo "s3rver repository" || echo "directory repository")
if [ "$ENCRYPT" = 1 ]; then
    age-keygen -o "$BENCH_DIR/age.key" 2>/dev/null
    repo_args+=(--encryption-recipients "$(age-keygen -y "$BENCH_DIR/age.key")")
    repo_name="$repo_name, encrypted"
fi
lsn_bytes() { sql "SELECT '$1'::pg_lsn - '0/0'::pg_lsn"; }

# ---- 1. throughput over a backlog ----
sql "SELECT pg_create_physical_replication_slot('bench_rx', true)" >/dev/null
sql "SELECT pg_create_physical_replication_slot('bench_rw', true)" >/dev/null
start_lsn=$(sql "SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'bench_rx'")
as_user "$bindir/pgbench" -n -T "$LOAD_SECONDS" -c "$CLIENTS" -h "$BENCH_DIR" -p "$PORT" postgres >/dev/null 2>&1
end_lsn=$(sql "SELECT pg_current_wal_flush_lsn()")
wal_bytes=$(( $(lsn_bytes "$end_lsn") - $(lsn_bytes "$start_lsn") ))
echo "backlog: $start_lsn .. $end_lsn, $((wal_bytes / 1048576)) MiB of WAL from pgbench -T $LOAD_SECONDS -c $CLIENTS"

t0=$(date +%s.%N)
/usr/bin/time -v -o "$BENCH_DIR/rw.time" "$bindir/pg_receivewal" -D "$BENCH_DIR/receivewal" -S bench_rw \
    -E "$end_lsn" --no-loop -d "$conn" 2>"$BENCH_DIR/rw.log"
t1=$(date +%s.%N)
rw_s=$(echo "$t1 - $t0" | bc -l)
rw_rss=$(awk -F: '/Maximum resident/ {gsub(/ /, "", $2); print $2}' "$BENCH_DIR/rw.time")

t0=$(date +%s.%N)
/usr/bin/time -v -o "$BENCH_DIR/rx.time" "$walvault" receive "${repo_args[@]}" --dbname "$conn" --slot bench_rx \
    --receive-flush-interval 1s 2>"$BENCH_DIR/rx.log" &
RECEIVER_PID=$!
until flushed=$("$walvault" receive --status "${repo_args[@]}" --slot bench_rx 2>/dev/null | awk '/^flushed:/ {print $2}') &&
    [ -n "$flushed" ] && [ "$(lsn_bytes "$flushed")" -ge "$(lsn_bytes "$end_lsn")" ]; do
    sleep 0.1
done
t1=$(date +%s.%N)
kill "$(pgrep -P "$RECEIVER_PID")"  # the receiver, time's child: time then writes its report
wait "$RECEIVER_PID" || true
RECEIVER_PID=""
rx_s=$(echo "$t1 - $t0" | bc -l)
rx_rss=$(awk -F: '/Maximum resident/ {gsub(/ /, "", $2); print $2}' "$BENCH_DIR/rx.time")
mib=$(echo "$wal_bytes / 1048576" | bc -l)
printf '%-40s %8s %10s %12s\n' "client" "seconds" "MiB/s" "max RSS MiB"
printf '%-40s %8.2f %10.1f %12.1f\n' "pg_receivewal (local directory)" "$rw_s" "$(echo "$mib / $rw_s" | bc -l)" \
    "$(echo "$rw_rss / 1024" | bc -l)"
printf '%-40s %8.2f %10.1f %12.1f\n' "walvault receive ($repo_name)" "$rx_s" "$(echo "$mib / $rx_s" | bc -l)" \
    "$(echo "$rx_rss / 1024" | bc -l)"
printf 'walvault receive throughput = %.0f %% of pg_receivewal\n' "$(echo "100 * $rw_s / $rx_s" | bc -l)"

# ---- 2. commit latency ----
# p50 and p99 of pgbench's per-transaction log (third field: latency in microseconds), in ms.
latency() {
    local name=$1
    rm -f "$BENCH_DIR"/lat.*
    as_user "$bindir/pgbench" -n -T 10 -c "$CLIENTS" -l --log-prefix="$BENCH_DIR/lat" -h "$BENCH_DIR" -p "$PORT" \
        postgres >/dev/null 2>&1
    cat "$BENCH_DIR"/lat.* | awk '{print $3}' | sort -n | awk -v name="$name" '{v[NR] = $1}
        END {printf "%-48s %8d tx %8.2f ms p50 %8.2f ms p99\n", name, NR, v[int(NR * 0.5)] / 1000, v[int(NR * 0.99)] / 1000}'
}
latency "synchronous_commit = local (no standby)"

sql "ALTER SYSTEM SET synchronous_standby_names = 'bench_sync'" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
"$walvault" receive "${repo_args[@]}" --dbname "$conn application_name=bench_sync" --slot bench_rx --synchronous \
    2>>"$BENCH_DIR/rx.log" &
RECEIVER_PID=$!
until [ "$(sql "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'bench_sync'")" = sync ]; do
    sleep 0.1
done
latency "walvault receive --synchronous ($repo_name)"
kill "$RECEIVER_PID"
wait "$RECEIVER_PID" || true
RECEIVER_PID=""

"$bindir/pg_receivewal" -D "$BENCH_DIR/receivewal" -S bench_rw --synchronous \
    -d "$conn application_name=bench_sync" 2>/dev/null &
RECEIVER_PID=$!
until [ "$(sql "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'bench_sync'")" = sync ]; do
    sleep 0.1
done
latency "pg_receivewal --synchronous (local directory)"
kill "$RECEIVER_PID"
wait "$RECEIVER_PID" || true
RECEIVER_PID=""
sql "ALTER SYSTEM RESET synchronous_standby_names" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null

# ---- 3. commit -> durable in the repository, without --synchronous, under load ----
"$walvault" receive "${repo_args[@]}" --dbname "$conn" --slot bench_rx 2>>"$BENCH_DIR/rx.log" &
RECEIVER_PID=$!
until [ "$(sql "SELECT active AND restart_lsn >= pg_current_wal_lsn() - 16 * 1024 * 1024
                FROM pg_replication_slots WHERE slot_name = 'bench_rx'")" = t ]; do
    sleep 0.1
done
sql "CREATE TABLE probe_mark (i int); CREATE TABLE probe (ms float8, lag bigint)" >/dev/null
as_user "$bindir/pgbench" -n -T "$((PROBE_SECONDS + 2))" -c "$CLIENTS" -h "$BENCH_DIR" -p "$PORT" postgres \
    >/dev/null 2>&1 &
load_pid=$!
sleep 1
# One session, waiting inside the server (a psql per poll would cost more than what it measures).
sql "DO \$\$
DECLARE
    stop timestamptz := clock_timestamp() + interval '$PROBE_SECONDS s';
    lsn pg_lsn;
    t0 timestamptz;
    lag bigint;
BEGIN
    WHILE clock_timestamp() < stop LOOP
        INSERT INTO probe_mark VALUES (1);
        COMMIT;
        t0 := clock_timestamp();
        lsn := pg_current_wal_insert_lsn();
        lag := lsn - (SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'bench_rx');
        WHILE (SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'bench_rx') < lsn LOOP
            PERFORM pg_sleep(0.002);
        END LOOP;
        INSERT INTO probe VALUES (extract(epoch FROM clock_timestamp() - t0) * 1000, lag);
        COMMIT;
        PERFORM pg_sleep($PROBE_GAP);
    END LOOP;
END \$\$" >/dev/null
wait "$load_pid" || true
kill "$RECEIVER_PID"
wait "$RECEIVER_PID" || true
RECEIVER_PID=""
sql "SELECT format('commit -> durable in the %s (async, flush 5s/1MB, pgbench -c %s load): %s commits, '
            'p50 %s ms, p99 %s ms, max %s ms; largest lag at a commit %s MiB',
            '$repo_name', $CLIENTS, count(*),
            round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
            round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1), round(max(ms)::numeric, 1),
            round(max(lag) / 1048576.0, 1)) FROM probe"
