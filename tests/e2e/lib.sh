# Shared helpers for the end-to-end tests; each test script sources this file.
# It needs $CASHSTORY (the built binary) and $CS_SOURCE_DIR (the source tree).

set -u

: "${CASHSTORY:?set CASHSTORY to the built cashstory binary}"
: "${CS_SOURCE_DIR:?set CS_SOURCE_DIR to the source tree}"

CS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/cashstory-e2e.XXXXXX")
trap 'chmod -R u+w "$CS_TMP" 2>/dev/null; rm -rf "$CS_TMP"' EXIT
cd "$CS_TMP" || exit 1

# Keep the tests independent of the machine's system folders.
export CASHSTORY_STORE="$CS_TMP/store"
export CASHSTORY_TRUST="$CS_TMP/no-trust.json"
echo '{}' >"$CASHSTORY_TRUST"
export SOURCE_DATE_EPOCH=1767225600

tests_passed=0
tests_failed=0

pass() {
    tests_passed=$((tests_passed + 1))
    echo "ok - $1"
}

fail() {
    tests_failed=$((tests_failed + 1))
    echo "not ok - $1"
}

# run EXPECTED_STATUS NAME COMMAND...: run a command, keep its output in
# $out (stdout and stderr together) and check its exit status.
run() {
    local expected=$1 name=$2
    shift 2
    out=$("$@" 2>&1)
    local status=$?
    if [ "$status" -eq "$expected" ]; then
        pass "$name"
    else
        fail "$name (exit status $status, expected $expected)"
        printf '%s\n' "$out" | sed 's/^/    /'
    fi
}

# expect_output NAME PATTERN: check that $out matches the extended regex.
expect_output() {
    if printf '%s\n' "$out" | grep -Eq -- "$2"; then
        pass "$1"
    else
        fail "$1 (output does not match '$2')"
        printf '%s\n' "$out" | sed 's/^/    /'
    fi
}

# finish: print the totals and exit non-zero when a check failed.
finish() {
    echo "$tests_passed passed, $tests_failed failed"
    [ "$tests_failed" -eq 0 ]
    exit $?
}

# Copy the hello example into ./NAME so that a test can change it.
copy_example() {
    cp -r "$CS_SOURCE_DIR/examples/hello" "$1"
}

# Helpers for the tests that feed hostile packages to the binary.

craft() {
    python3 "$CS_SOURCE_DIR/tests/e2e/craft.py" "$@"
}

# Every command runs under a time limit, so that a hang (for example on a
# FIFO that replaced a file) fails the check instead of the whole test.
cashstory() {
    timeout 60 "$CASHSTORY" "$@"
}

# Print everything a failed install could change: the installed apps, every
# path in the store with its type, mode, size and link target, and the
# SHA-256 of every file.
store_state() {
    "$CASHSTORY" list --json 2>&1
    find "$CASHSTORY_STORE" -printf '%P %y %m %s %l\n' | LC_ALL=C sort
    find "$CASHSTORY_STORE" -type f -exec sha256sum {} + | LC_ALL=C sort
}

# expect_no_crash NAME: check that the output of the last command has no
# sanitizer or crash report (the exit status check already excludes signals).
expect_no_crash() {
    if printf '%s\n' "$out" | grep -Eq 'Sanitizer|runtime error:|Segmentation fault|core dumped'; then
        fail "$1 (sanitizer or crash report in the output)"
        printf '%s\n' "$out" | sed 's/^/    /'
    else
        pass "$1"
    fi
}

# expect_store_unchanged NAME BEFORE: compare the store with the state saved
# before the command, and check that no staging folder was left in tmp/.
expect_store_unchanged() {
    local after
    after=$(store_state)
    if [ "$after" = "$2" ]; then
        pass "$1: store unchanged"
    else
        fail "$1: store unchanged"
        diff <(printf '%s\n' "$2") <(printf '%s\n' "$after") | sed 's/^/    /'
    fi
    local leftovers
    leftovers=$(ls -A "$CASHSTORY_STORE/tmp" 2>/dev/null)
    if [ -z "$leftovers" ]; then
        pass "$1: no leftovers in the store's tmp folder"
    else
        fail "$1: no leftovers in the store's tmp folder (found: $leftovers)"
    fi
}

# expect_line NAME TEXT: check that $out has TEXT as a whole line.
expect_line() {
    if printf '%s\n' "$out" | grep -Fxq -- "$2"; then
        pass "$1"
    else
        fail "$1 (no line '$2')"
        printf '%s\n' "$out" | sed 's/^/    /'
    fi
}

# expect_absent NAME PATTERN: check that $out does not match the extended regex.
expect_absent() {
    if printf '%s\n' "$out" | grep -Eq -- "$2"; then
        fail "$1 (output matches '$2')"
        printf '%s\n' "$out" | sed 's/^/    /'
    else
        pass "$1"
    fi
}

# expect_count NAME COUNT PATTERN: check that COUNT lines of $out match.
expect_count() {
    local count
    count=$(printf '%s\n' "$out" | grep -Ec -- "$3")
    if [ "$count" -eq "$2" ]; then
        pass "$1"
    else
        fail "$1 ($count lines match '$3', expected $2)"
        printf '%s\n' "$out" | sed 's/^/    /'
    fi
}
