# Sourced by scripts/check-pg-headers.sh and scripts/test-major.sh: downloads .deb files from Debian's newer
# suites (trixie, sid) without installing them and without touching the system's apt sources or lists.
# The mirror is the one this machine's apt already uses for bookworm (/etc/apt/sources.list, *.list and
# *.sources below /etc/apt/sources.list.d), so no host name is written here.

# Prints the URI of the first source that serves the suite "bookworm" (one-line or deb822 format).
debian_bookworm_uri() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        # deb [options] URI SUITE COMPONENTS...
        awk '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                           if ($(i + 1) == "bookworm") { print $i; exit } }' "$f"
    done | head -1 | grep . && return 0
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # Paragraphs of "Field: value" lines; the one whose Suites has "bookworm" on its own.
        awk 'BEGIN { RS = ""; FS = "\n" }
             { uri = ""; hit = 0
               for (i = 1; i <= NF; i++) {
                   if ($i ~ /^URIs:/) { split(substr($i, 6), u, " "); uri = u[1] }
                   if ($i ~ /^Suites:/) { n = split(substr($i, 8), s, " "); for (j = 1; j <= n; j++) if (s[j] == "bookworm") hit = 1 }
               }
               if (hit && uri != "") { print uri; exit } }' "$f"
    done | head -1 | grep .
}

# debian_newer_download DIR PACKAGE...: the newest .deb of each package among trixie and sid into DIR.
# Returns non-zero (with the reason on stderr) if the mirror or a package cannot be had.
debian_newer_download() {
    local dir=$1 uri apt_dir
    shift
    if ! uri=$(debian_bookworm_uri); then
        echo "no apt source for bookworm in /etc/apt/sources.list(.d): cannot tell which Debian mirror to use" >&2
        return 1
    fi
    apt_dir=$(mktemp -d)
    mkdir -p "$apt_dir"/{lists/partial,cache/archives/partial} "$dir"
    {
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie main"
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri sid main"
    } > "$apt_dir/sources.list"
    local apt_opts=(-o Dir::Etc::sourcelist="$apt_dir/sources.list" -o Dir::Etc::sourceparts=/nonexistent
                    -o Dir::State::lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache" -o Debug::NoLocking=1)
    local rc=0
    if ! timeout 300 apt-get "${apt_opts[@]}" update -qq >"$apt_dir/log" 2>&1; then
        echo "apt-get update of trixie and sid from $uri failed:" >&2; tail -5 "$apt_dir/log" >&2; rc=1
    # apt-get download writes into the current directory, as the _apt user where it can: make it writable.
    elif ! (cd "$dir" && chmod a+rwx . && timeout 300 apt-get "${apt_opts[@]}" download "$@" >"$apt_dir/log" 2>&1); then
        echo "apt-get download $* failed:" >&2; tail -5 "$apt_dir/log" >&2; rc=1
    fi
    rm -rf "$apt_dir"
    return $rc
}
