#!/usr/bin/env bash
# Runs every walvault test: unit tests (GoogleTest), pg_regress on a temporary instance, and the TAP tests
# on real PostgreSQL clusters, and checks the sources: clang-format (make format-check) and clang-tidy
# (make lint), each file one test, and a subset of the TAP tests against PostgreSQL 17 and 18
# (scripts/test-major.sh). Installs what it needs first. Ends with one line: "tests: N passed,
# N failed". Time: the two cores are the limit, so nothing is compiled or run twice: the unit tests are built
# and run once, under AddressSanitizer and UndefinedBehaviorSanitizer (make unit-sanitize: a second compile
# of core/, which the module and the tool need optimized, and the only one of test/unit/), and they and
# clang-tidy (~10 s of CPU per file) run in the background while the PostgreSQL tests, which mostly wait on
# clusters, run two TAP files at a time (TAP_JOBS, default 2). Each section header says when it started.
set -uo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
section() { echo "== $1 (at $((SECONDS - started)) s)"; }

section "dependencies and build"
./scripts/deps.sh || exit 1
./scripts/build.sh || { echo "walvault: build failed"; exit 1; }

logs=$(mktemp -d)
passed=0
failed=0
status=0

# GoogleTest's closing lines: "[  PASSED  ] N tests." and "[  FAILED  ] N tests, listed below:".
count_gtest() {
    local p f
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) tests\?\..*/\1/p' "$1" | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) tests\?, listed below.*/\1/p' "$1" | tail -1)
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
    [ -n "$p$f" ] || failed=$((failed + 1))
}

# "ok - " and "not ok - " lines (make format-check, make lint): one test each. Prints
# the section's own count line.
count_ok_lines() {
    local p f
    p=$(grep -c '^ok - ' "$1"); f=$(grep -c '^not ok - ' "$1")
    echo "$2: $p passed, $f failed"
    passed=$((passed + p)); failed=$((failed + f))
    [ $((p + f)) -gt 0 ] || failed=$((failed + 1))
}

# In the background from here on, at a lower priority than the clusters; their results are counted at the end.
nice -n 10 make --no-print-directory -j"$(nproc)" unit-sanitize > "$logs/sanitize.log" 2>&1 &
sanitize_pid=$!
nice -n 10 make --no-print-directory -k -O -j"$(nproc)" lint > "$logs/lint.log" 2>&1 &
lint_pid=$!

section "clang-format (make format-check)"
make --no-print-directory format-check > "$logs/format.log" 2>&1 || status=1
grep -v '^ok - ' "$logs/format.log"
count_ok_lines "$logs/format.log" "format-check"

section "pg_regress"
make --no-print-directory regress 2>&1 | tee "$logs/regress.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
p=$(grep -c '^ok ' "$logs/regress.log")
f=$(grep -c '^not ok ' "$logs/regress.log")
if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
    p=$(grep -cE '^(test|     ) .* \.\.\. ok' "$logs/regress.log")
    f=$(grep -cE '\.\.\. FAILED' "$logs/regress.log")
fi
passed=$((passed + p)); failed=$((failed + f))
[ $((p + f)) -gt 0 ] || failed=$((failed + 1))

section "the module against PostgreSQL 16, 17 and 18 headers"
./scripts/check-pg-headers.sh 2>&1 | tee "$logs/headers.log"
rc=${PIPESTATUS[0]}
[ "$rc" -eq 1 ] && status=1
passed=$((passed + $(grep -c '^ok ' "$logs/headers.log"))); failed=$((failed + $(grep -c '^not ok ' "$logs/headers.log")))

section "TAP tests"
make --no-print-directory tap PROVE_FLAGS="-j${TAP_JOBS:-2}" 2>&1 | tee "$logs/tap.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
total=$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' "$logs/tap.log" | tail -1)
f=$(sed -n 's/.*Failed \([0-9]*\)\/[0-9]* subtests.*/\1/p' "$logs/tap.log" | awk '{s+=$1} END {print s+0}')
passed=$((passed + ${total:-0} - f)); failed=$((failed + f))
[ -n "$total" ] || failed=$((failed + 1))

# The same TAP files, a subset, against the servers of the newer majors (scripts/test-major.sh: it fetches
# them and builds the module for each; deps and the build are done above). Each ends with its own
# "tests: N passed, N failed" line, shown here as "PostgreSQL N: ..." and added to the totals.
for major in 17 18; do
    section "PostgreSQL $major (scripts/test-major.sh $major)"
    WALVAULT_DEPS_DONE=1 ./scripts/test-major.sh "$major" > "$logs/pg$major.log" 2>&1
    rc=$?
    sed "s/^tests: /PostgreSQL $major: /" "$logs/pg$major.log"
    [ "$rc" -eq 0 ] || status=1
    line=$(grep '^tests: [0-9]* passed, [0-9]* failed' "$logs/pg$major.log" | tail -1)
    p=$(sed -n 's/^tests: \([0-9]*\) passed.*/\1/p' <<< "$line")
    f=$(sed -n 's/^tests: [0-9]* passed, \([0-9]*\) failed.*/\1/p' <<< "$line")
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-1}))
done

section "unit tests, under AddressSanitizer and UndefinedBehaviorSanitizer (built and run in the background)"
wait "$sanitize_pid"
[ $? -eq 0 ] || { status=1; cat "$logs/sanitize.log"; }
grep -E '^\[  (PASSED|FAILED)  \]' "$logs/sanitize.log"
count_gtest "$logs/sanitize.log"

section "clang-tidy (make lint, run in the background)"
wait "$lint_pid" || status=1
grep -v '^ok - ' "$logs/lint.log"
count_ok_lines "$logs/lint.log" "lint"

if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi

rm -rf "$logs"
echo "tests: $passed passed, $failed failed (in $((SECONDS - started)) s)"
exit $status
