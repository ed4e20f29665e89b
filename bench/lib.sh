# Shared by the bench/ scripts (sourced after each sets BENCH_DIR, BENCH_USER and PORT): builds and
# installs walvault unless BENCH_BUILD=no, makes sure pgBackRest is installed, and defines as_user (runs
# PostgreSQL programs as BENCH_USER when we are root), sql (one statement on the bench cluster), pgctl.
if [ "${BENCH_BUILD:-yes}" != no ]; then
    ./scripts/deps.sh
    ./scripts/build.sh
fi
command -v pgbackrest >/dev/null || {
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq pgbackrest >/dev/null
}
bindir=$(pg_config --bindir)

as_user() { if [ "$(id -u)" -eq 0 ]; then runuser -u "$BENCH_USER" -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] || BENCH_USER=$(id -un)
sql() { as_user "$bindir/psql" -X -q -A -t -h "$BENCH_DIR" -p "$PORT" -d postgres -c "$1"; }
pgctl() { as_user "$bindir/pg_ctl" -D "$1" -l "$BENCH_DIR/$(basename "$1").log" -w "${@:2}" >/dev/null; }

# An empty BENCH_DIR owned by BENCH_USER (call after stopping what an earlier run left there).
fresh_bench_dir() {
    rm -rf "$BENCH_DIR"
    mkdir -p "$BENCH_DIR"
    [ "$(id -u)" -ne 0 ] || chown "$BENCH_USER" "$BENCH_DIR"
}

# A copy of the tool for this run, in $walvault: others may install a new walvault meanwhile, and
# restore_command names the binary that ran walvault restore. WALVAULT_BIN: measure that binary instead.
pin_walvault() {
    walvault=$BENCH_DIR/bin/walvault
    mkdir -p "$BENCH_DIR/bin"
    cp -p "${WALVAULT_BIN:-$bindir/walvault}" "$walvault"
}
