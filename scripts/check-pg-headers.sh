#!/usr/bin/env bash
# Compiles the C shim (module/walvault.c) against the server headers of PostgreSQL 17 and 18, and the 16
# code path against 17's headers, with -Werror. Only 15 runs on Debian 12; the other majors' headers come
# from Debian's newer suites as .deb files (scripts/debian-newer.sh: the mirror this machine's apt uses),
# unpacked into a temporary directory (nothing is installed and the system's apt sources are untouched).
# PostgreSQL 16 headers are in no Debian suite any more. scripts/test-major.sh runs 17 and 18.
# Prints one "ok"/"FAILED" line per check; exits 1 if any compile fails, 2 if the headers cannot be had.
set -uo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=scripts/debian-newer.sh
. ./scripts/debian-newer.sh
if ! debian_newer_download "$work" postgresql-server-dev-17 postgresql-server-dev-18 2>"$work/why"; then
    echo "headers: could not download postgresql-server-dev-17/18 from Debian; not checked: $(head -1 "$work/why")"
    exit 2
fi

# The newer suites' pg_config.h expects glibc 2.38's strlcpy; Debian 12 has glibc 2.36.
printf '#include <stddef.h>\nsize_t strlcpy(char *dst, const char *src, size_t siz);\n' > "$work/strlcpy.h"
printf '#include "postgres.h"\n#undef PG_VERSION_NUM\n#define PG_VERSION_NUM 160000\n#include "module/walvault.c"\n' > "$work/as16.c"
cflags=(-std=gnu11 -Wall -Wmissing-prototypes -Wpointer-arith -Wdeclaration-after-statement -Werror=vla
        -Wimplicit-fallthrough=3 -Wcast-function-type -Wformat-security -fno-strict-aliasing -fwrapv -Werror
        -fPIC -D_GNU_SOURCE -include "$work/strlcpy.h" -I. -Imodule)
status=0
check() {
    local label=$1 src=$2 major=$3
    mkdir -p "$work/x$major"
    dpkg-deb -x "$work"/postgresql-server-dev-"${major}"_*.deb "$work/x$major"
    if gcc "${cflags[@]}" -I"$work/x$major/usr/include/postgresql/$major/server" -c "$src" -o "$work/out.o"; then
        echo "ok - module/walvault.c compiles for PostgreSQL $label"
    else
        echo "not ok - module/walvault.c does not compile for PostgreSQL $label"
        status=1
    fi
}
check "16 (its code path, with 17's headers)" "$work/as16.c" 17
check 17 module/walvault.c 17
check 18 module/walvault.c 18
exit $status
