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

# Stops (immediate) every cluster still running in a directory directly below $BENCH_DIR.
stop_bench_clusters() {
    local d
    for d in "$BENCH_DIR"/*/; do
        [ -f "$d/postmaster.pid" ] && as_user "$bindir/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1 || true
    done
}

# A copy of the tool for this run, in $walvault: others may install a new walvault meanwhile, and
# restore_command names the binary that ran walvault restore. WALVAULT_BIN: measure that binary instead.
pin_walvault() {
    walvault=$BENCH_DIR/bin/walvault
    mkdir -p "$BENCH_DIR/bin"
    cp -p "${WALVAULT_BIN:-$bindir/walvault}" "$walvault"
}

# write_pgbackrest_conf [--cipher] FILE PG1_PATH [LINE...]: a pgBackRest configuration in FILE for the stanza
# "bench" of the cluster at PG1_PATH (port $PORT, socket in $BENCH_DIR): repository $BENCH_DIR/repo-pgbackrest
# with zstd, spool, lock and log directories in $BENCH_DIR (created), warnings on the console, and each LINE
# in [global]; a LINE "KEY=VALUE" replaces the default of that KEY. --cipher: an encrypted repository beside
# it, $BENCH_DIR/repo-pgbackrest-enc with repo1-cipher-type=aes-256-cbc and a fixed repo1-cipher-pass, and
# spool, lock and log directories of its own ($BENCH_DIR/pgbackrest-enc-spool, ...).
write_pgbackrest_conf() {
    local sfx="" cipher=()
    if [ "$1" = --cipher ]; then
        sfx=-enc cipher=("repo1-cipher-type=aes-256-cbc" "repo1-cipher-pass=walvault-bench-cipher-pass")
        shift
    fi
    local file=$1 pg1=$2 line key
    shift 2
    local -a global=() defaults=("repo1-path=$BENCH_DIR/repo-pgbackrest$sfx" "spool-path=$BENCH_DIR/pgbackrest$sfx-spool"
        "lock-path=$BENCH_DIR/pgbackrest$sfx-lock" "log-path=$BENCH_DIR/pgbackrest$sfx-log" "log-level-console=warn"
        "log-level-file=info" "compress-type=zst")
    for line in "${defaults[@]}"; do
        key=${line%%=*}
        [[ " $* " == *" $key="* ]] || global+=("$line")
    done
    printf '%s\n' "[global]" "${global[@]}" "${cipher[@]}" "$@" \
        "[bench]" "pg1-path=$pg1" "pg1-port=$PORT" "pg1-socket-path=$BENCH_DIR" > "$file"
    chown "$BENCH_USER" "$file" 2>/dev/null || true
    local -a dirs
    mapfile -t dirs < <(sed -n 's/^\(spool\|lock\|log\)-path=//p' "$file")
    as_user mkdir -p "${dirs[@]}"
}

# ENCRYPT=1 (the scripts that take it): walvault and pgBackRest are measured with and without encryption in
# the same run. encryption_setup makes an age key pair for walvault (docs/encryption.md) in $BENCH_DIR,
# readable by BENCH_USER alone, and sets AGE_IDENTITY (the identity file) and AGE_RECIPIENT (its public key);
# pgBackRest's encrypted repository comes from write_pgbackrest_conf --cipher. ENCRYPT=0 (the default) sets
# nothing.
ENCRYPT=${ENCRYPT:-0}
case $ENCRYPT in 0 | 1) ;; *) echo "ENCRYPT must be 0 or 1, not $ENCRYPT" >&2; exit 1 ;; esac
encryption_setup() {
    [ "$ENCRYPT" = 1 ] || return 0
    command -v age-keygen >/dev/null || {
        sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq age >/dev/null
    }
    AGE_IDENTITY=$BENCH_DIR/age-key.txt
    rm -f "$AGE_IDENTITY"
    as_user age-keygen -o "$AGE_IDENTITY" 2>/dev/null
    chmod 600 "$AGE_IDENTITY"
    # shellcheck disable=SC2034  # read by the scripts that source this file
    AGE_RECIPIENT=$(age-keygen -y "$AGE_IDENTITY")
}
# check_encrypted DIR: fails the run unless the first WAL object under DIR is an age file (docs/encryption.md).
check_encrypted() {
    local obj
    obj=$(find "$1" -type f -name '0000*' -print -quit)
    if [ -z "$obj" ] || [ "$(head -c 19 "$obj")" != age-encryption.org/ ]; then
        echo "$1 holds no encrypted WAL object (${obj:-none})" >&2
        exit 1
    fi
}
# encryption_verdict VALUE OP LIMIT: "met" or "missed" for VALUE OP LIMIT (OP: >= or <=; VALUE may be an
# expression for bc).
encryption_verdict() { if [ "$(echo "$1 $2 $3" | bc -l)" = 1 ]; then echo met; else echo missed; fi; }

# S3 mode: start_s3rver BUCKET... starts s3rver over HTTPS on 127.0.0.1 (a fresh self-signed certificate,
# as test/lib/S3rver.pm makes it) in $BENCH_DIR/s3rver, with those buckets, and sets S3_PORT, S3_ENDPOINT,
# S3_CA (the certificate, also the CA to trust), S3_DATA (s3rver's data directory: BUCKET/KEY._S3rver_object),
# S3_CREDENTIALS (an AWS credentials file for s3rver's one account) and S3_PID. stop_s3rver stops it by
# that PID; call it from the script's EXIT trap. s3rver does not check signatures, so any secret works.
S3RVER_JS=${WALVAULT_NODE_DIR:-/opt/walvault-test}/node_modules/s3rver/bin/s3rver.js

# pgbackrest_s3_repo BUCKET PATH: the [global] lines of a pgBackRest repository in BUCKET at PATH on the
# s3rver that start_s3rver started.
pgbackrest_s3_repo() {
    printf '%s\n' "repo1-type=s3" "repo1-path=$2" "repo1-s3-bucket=$1" "repo1-s3-endpoint=127.0.0.1:$S3_PORT" \
        "repo1-s3-region=us-east-1" "repo1-s3-uri-style=path" "repo1-s3-key=S3RVER" "repo1-s3-key-secret=S3RVER" \
        "repo1-storage-ca-file=$S3_CA"
}
S3_PID=""
start_s3rver() {
    local dir=$BENCH_DIR/s3rver
    [ -f "$S3RVER_JS" ] || { echo "s3rver is not installed at $S3RVER_JS: run scripts/deps.sh" >&2; exit 1; }
    mkdir -p "$dir/data"
    S3_DATA=$dir/data
    S3_CA=$dir/cert.pem
    S3_CREDENTIALS=$dir/credentials
    # The DNS name 127.0.0.1 too: pgBackRest matches the host against DNS names only.
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
        -addext 'subjectAltName=IP:127.0.0.1,DNS:127.0.0.1' -keyout "$dir/key.pem" -out "$S3_CA" 2>/dev/null
    printf '[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n' > "$S3_CREDENTIALS"
    chmod 644 "$S3_CA" "$S3_CREDENTIALS"
    S3_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    S3_ENDPOINT=https://127.0.0.1:$S3_PORT
    local buckets=() b
    for b in "$@"; do buckets+=(--configure-bucket "$b"); done
    node --openssl-legacy-provider "$S3RVER_JS" -d "$S3_DATA" -a 127.0.0.1 -p "$S3_PORT" --silent \
        --key "$dir/key.pem" --cert "$S3_CA" "${buckets[@]}" > "$dir/s3rver.log" 2>&1 &
    S3_PID=$!
    local i
    for i in $(seq 1 200); do
        curl -s -o /dev/null --cacert "$S3_CA" "$S3_ENDPOINT/" && return 0
        kill -0 "$S3_PID" 2>/dev/null || { echo "s3rver exited: $(cat "$dir/s3rver.log")" >&2; exit 1; }
        sleep 0.1
    done
    echo "s3rver did not answer on $S3_ENDPOINT" >&2
    exit 1
}
stop_s3rver() {
    [ -n "$S3_PID" ] || return 0
    kill "$S3_PID" 2>/dev/null || true
    wait "$S3_PID" 2>/dev/null || true
    S3_PID=""
}
# walvault's settings for the s3rver bucket BUCKET, under PREFIX.
walvault_s3_conf() {
    printf "walvault.repo = 's3://%s/%s'\nwalvault.s3_endpoint = '%s'\nwalvault.s3_region = 'us-east-1'\nwalvault.s3_credentials_file = '%s'\nwalvault.s3_ca_file = '%s'\n" \
        "$1" "$2" "$S3_ENDPOINT" "$S3_CREDENTIALS" "$S3_CA"
}
# Objects s3rver holds in BUCKET under PREFIX whose name starts with 0000 (WAL segments).
s3_wal_objects() { find "$S3_DATA/$1/$2" -type f -name '0000*._S3rver_object' 2>/dev/null | wc -l; }
