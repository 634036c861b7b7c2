# Faults during an update: the client killed with SIGKILL while it
# downloads and while it installs, the server disappearing mid-transfer, and
# a full disk. After each, the store contains the old version or the new one,
# complete and verified, and the next run finishes the update.
source "$(dirname "$0")/lib.sh"
source "$CS_SOURCE_DIR/tests/update/nginx.sh"
source "$CS_SOURCE_DIR/tests/update/fixture.sh"

# About 1 MiB per second per connection, so that a download of a few MiB
# can be interrupted on purpose.
fixture_start "limit_rate 1m;"
write_policy '{"repository": "corp", "channel": "stable"}'

# check_state NAME ALLOWED...: the installed version is one of ALLOWED and
# verifies completely.
check_state() {
    local name=$1 version ok=false v
    shift
    version=$(installed_version)
    for v in "$@"; do
        [ "$v" = "$version" ] && ok=true
    done
    if ! $ok; then
        fail "$name: state is '$version', expected one of: $*"
        return
    fi
    if [ "$version" != none ] && ! "$CASHSTORY" verify --installed com.example.hello >/dev/null 2>&1; then
        fail "$name: installed version $version does not verify"
        return
    fi
    pass "$name: state '$version' is complete"
}

# kill_when_partial: run an update in the background and send it SIGKILL
# once a partial download has grown for half a second, so that the kill
# lands in the middle of a file even on a slow machine.
kill_when_partial() {
    "$CASHSTORY" update com.example.hello >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 1 200); do
        [ -n "$(find "$CASHSTORY_STORE/update/blobs" -name '*.part' -size +0 2>/dev/null)" ] && break
        sleep 0.05
    done
    sleep 0.5
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

# kill_after DELAY: run an update in the background and send it SIGKILL
# after DELAY seconds.
kill_after() {
    "$CASHSTORY" update com.example.hello >/dev/null 2>&1 &
    local pid=$!
    sleep "$1"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

# Version 1.0.0 is small; 1.1.0 adds four files of 1.5 MiB, which take about
# 6 seconds at the server's rate.
make_app app 2 1024
pack_version app 1.0.0
publish 1.0.0 stable
run 0 "install 1.0.0" cs update com.example.hello
for i in 1 2 3 4; do
    head -c 1572864 /dev/urandom >"app/data/big$i.bin"
done
pack_version app 1.1.0
publish 1.1.0 stable
new_bytes=$((4 * 1572864))

# ---- killed while downloading ----

nginx_clear_log
for attempt in 1 2 3; do
    kill_when_partial
    check_state "killed during download, attempt $attempt" 1.0.0
done
cache=$CASHSTORY_STORE/update/blobs/sha256
[ -n "$(ls "$cache")" ] && pass "downloads kept in the blob cache" || fail "downloads kept in the blob cache"
run 0 "update after the kills" cs update
expect_output "update completes" "installed 1.1.0 over 1.0.0"
check_state "after the kills" 1.1.0
[ "$(nginx_count 'range=bytes=[0-9]+-')" -ge 1 ] && pass "a download resumed with a Range request" ||
    fail "a download resumed with a Range request"
sent=$(awk '$2 ~ /blobs/ { s += $4 } END { print s + 0 }' "$NGINX_LOG")
[ "$sent" -lt $((new_bytes + 1048576)) ] && pass "resumed downloads fetched no file twice ($sent bytes)" ||
    fail "resumed downloads fetched no file twice ($sent bytes for $new_bytes)"
[ -z "$(ls -A "$CASHSTORY_STORE/update/staging")" ] && pass "no staging leftovers" ||
    fail "no staging leftovers"

# ---- the server disappears mid-transfer ----

run 0 "back to 1.0.0" cs rollback com.example.hello
head -c 1572864 /dev/urandom >app/data/big1.bin
head -c 1572864 /dev/urandom >app/data/big2.bin
pack_version app 1.2.0
publish 1.2.0 stable
nginx_clear_log
"$CASHSTORY" update com.example.hello >"$CS_TMP/update.out" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
    [ -n "$(find "$CASHSTORY_STORE/update/blobs" -name '*.part' -size +0 2>/dev/null)" ] && break
    sleep 0.05
done
sleep 0.5
nginx_kill
wait "$pid"
status=$?
[ "$status" -eq 1 ] && pass "update fails when the server disappears" ||
    fail "update fails when the server disappears (exit status $status)"
out=$(cat "$CS_TMP/update.out")
expect_output "failure names the blob" "com.example.hello: failed: data/big[0-9].bin of com.example.hello 1.2.0: .*/repo/blobs/sha256/"
expect_output "failure says the next run resumes" "[0-9]+ of 1572864 bytes are kept; the next run resumes the download"
check_state "server gone" 1.0.0
nginx_start "$CS_TMP/www" "limit_rate 4m;"
run 0 "update once the server is back" cs update
check_state "server back" 1.2.0
[ "$(nginx_count 'range=bytes=[0-9]+-')" -ge 1 ] && pass "the interrupted download resumed" ||
    fail "the interrupted download resumed"

# ---- a server without range requests ----

# nginx with max_ranges 0 answers a Range request with the whole file, so
# the client must start the interrupted file over.
nginx_stop
nginx_start "$CS_TMP/www" "limit_rate 1m; max_ranges 0;"
head -c 1572864 /dev/urandom >app/data/big3.bin
head -c 1572864 /dev/urandom >app/data/big4.bin
pack_version app 1.3.0
publish 1.3.0 stable
nginx_clear_log
kill_when_partial
check_state "killed before the server without ranges finished" 1.2.0
[ -n "$(ls "$cache"/*.part 2>/dev/null)" ] && pass "partial download kept" || fail "partial download kept"
run 0 "update from a server without ranges" cs update
check_state "server without ranges" 1.3.0
[ "$(nginx_count 'blobs/.* 200 [0-9]+ range=bytes=[0-9]+-')" -ge 1 ] &&
    pass "whole file sent for a range request" || fail "whole file sent for a range request"

# ---- killed while installing ----

# Without a rate limit the download is quick. After the first kills every
# blob is in the cache, so later runs spend their time copying, checking and
# moving 1,000 files, and the kills land in those steps.
nginx_stop
nginx_start "$CS_TMP/www"
make_app app2 1000 8192
pack_version app2 2.0.0
publish 2.0.0 stable
for delay in 0.05 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 1.0 1.2; do
    kill_after "$delay"
    check_state "killed during install after ${delay}s" 1.3.0 2.0.0
done
run 0 "update after the install kills" cs update
check_state "after the install kills" 2.0.0
run 0 "store still accepts commands" cs list

# ---- full disk ----

if [ "$(id -u)" -ne 0 ]; then
    echo "ok - full disk # SKIP needs root to mount a small tmpfs store"
else
    small=$CS_TMP/small
    mkdir -p "$small"
    if mount -t tmpfs -o size=4m tmpfs "$small" 2>/dev/null; then
        trap 'umount "$small" 2>/dev/null; nginx_stop; chmod -R u+w "$CS_TMP" 2>/dev/null; rm -rf "$CS_TMP"' EXIT
        export CASHSTORY_STORE=$small/store
        make_app app3 2 1024
        pack_version app3 3.0.0
        publish 3.0.0 stable
        run 0 "install into a small store" cs update com.example.hello
        check_state "small store" 3.0.0
        for i in 1 2 3; do
            head -c 1572864 /dev/urandom >"app3/data/big$i.bin"
        done
        pack_version app3 3.1.0
        publish 3.1.0 stable
        run 1 "update on a full disk" cs update
        expect_output "full disk reported" "No space left on device"
        check_state "full disk" 3.0.0
        [ -z "$(ls -A "$CASHSTORY_STORE/update/staging")" ] && pass "full disk: no staging leftovers" ||
            fail "full disk: no staging leftovers"
        umount "$small"
    else
        echo "ok - full disk # SKIP cannot mount a tmpfs here"
    fi
fi

finish
