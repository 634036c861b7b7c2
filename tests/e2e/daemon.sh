# End-to-end tests of cashstoryd and the commands that talk to it: start,
# ps, stop, logs, restart on failure, clean shutdown, and no sandbox left
# behind when the daemon is killed.
source "$(dirname "$0")/lib.sh"

daemon="$(dirname "$CASHSTORY")/cashstoryd"
probe="$CS_BUILD_DIR/tests/escape_probe"
cs_cmd() { local cmd=$1; shift; "$CASHSTORY" "$cmd" --socket "$CS_TMP/ctl/control.sock" "$@"; }

"$CASHSTORY" key generate --out pub >/dev/null
copy_example app
"$CASHSTORY" pack app --key pub.key --out app.csa >/dev/null
"$CASHSTORY" install app.csa --trusted-key pub.pub >/dev/null

# The probe replaces the app host, so an app can sleep or exit at will.
export CASHSTORY_APP_HOST="$probe"

start_daemon() {
    "$daemon" --socket "$CS_TMP/ctl/control.sock" --trusted-key pub.pub >>daemon.log 2>&1 &
    daemon_pid=$!
    for _ in $(seq 1 50); do
        "$CASHSTORY" ps --socket "$CS_TMP/ctl/control.sock" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    fail "daemon started"
    cat daemon.log
}

start_daemon
[ "$(stat -c %a "$CS_TMP/ctl/control.sock")" = 600 ] && pass "socket mode 0600" ||
    fail "socket mode 0600"
[ "$(stat -c %a "$CS_TMP/ctl")" = 700 ] && pass "socket folder mode 0700" ||
    fail "socket folder mode 0700"
run 1 "second daemon refused" "$daemon" --socket "$CS_TMP/ctl/control.sock"
expect_output "second daemon message" 'another cashstoryd is running'

run 0 "start" cs_cmd start com.example.hello -- sleep:47
expect_output "start names the instance" 'started com\.example\.hello 1\.0\.0 \(instance [0-9a-f]{32}, pid [0-9]+\)'
run 0 "ps" cs_cmd ps --json
python3 -c '
import json, sys
apps = json.load(sys.stdin)
a = [x for x in apps if x["state"] == "running"][0]
assert a["app"] == "com.example.hello", a
assert a["version"] == "1.0.0", a
assert a["pid"] > 0, a
assert a["uptime_seconds"] >= 0, a
assert a["memory_bytes"] > 0, a
' <<<"$out" && pass "ps shows the running app" || fail "ps shows the running app"
sandbox_pid=$(python3 -c 'import json,sys; print([x for x in json.load(sys.stdin) if x["state"]=="running"][0]["pid"])' <<<"$out")

run 0 "second instance" cs_cmd start com.example.hello -- sleep:47
out=$(cs_cmd ps --json)
[ "$(python3 -c 'import json,sys; print(len({x["instance"] for x in json.load(sys.stdin) if x["state"]=="running"}))' <<<"$out")" = 2 ] &&
    pass "two instances have distinct ids" || fail "two instances have distinct ids"

run 0 "logs" cs_cmd logs com.example.hello
run 0 "stop" cs_cmd stop com.example.hello
expect_output "stop reports the status" 'stopped com\.example\.hello'
run 1 "stop an app that is not running" cs_cmd stop com.example.nothing
expect_output "stop error names the app" "no running app or instance 'com.example.nothing'"
run 1 "start an app that is not installed" cs_cmd start com.example.nothing
expect_output "start error names the app" "com.example.nothing"

# Output is kept and shown by logs.
run 0 "start a short app" cs_cmd start com.example.hello -- identity
sleep 1
run 0 "logs of the short app" cs_cmd logs com.example.hello
expect_output "logs show the app's output" '^PASS identity: uid 1000'

# logs -f follows a running app and ends when it ends.
cs_cmd start com.example.hello -- sleep:2 >/dev/null
run 0 "logs -f ends with the app" timeout 20 "$CASHSTORY" logs com.example.hello -f --socket "$CS_TMP/ctl/control.sock"
expect_output "logs -f shows the app's output" '^PASS sleep: slept 2 s'

# An app that fails is restarted with back-off when asked.
run 0 "start with restart on failure" cs_cmd start com.example.hello --restart on-failure -- exit:3
restarted=false
for _ in $(seq 1 60); do
    out=$(cs_cmd ps --json)
    if python3 -c 'import json,sys; sys.exit(0 if any(x["restarts"] >= 1 for x in json.load(sys.stdin)) else 1)' <<<"$out"; then
        restarted=true
        break
    fi
    sleep 0.1
done
$restarted && pass "failed app restarted" || fail "failed app restarted ($out)"
grep -q 'restarting com.example.hello in 1000 ms' daemon.log && pass "restart logged" ||
    fail "restart logged"
cs_cmd stop com.example.hello >/dev/null 2>&1

# Another user may not use the control socket.
if [ "$(id -u)" -eq 0 ]; then
    id cashstory-test >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin cashstory-test
    chmod 755 "$CS_TMP"
    run 1 "other user refused" runuser -u cashstory-test -- "$CASHSTORY" ps --socket "$CS_TMP/ctl/control.sock"
    chmod 700 "$CS_TMP"
fi

# SIGTERM stops every app, then the daemon. (sleep:47 is used by no other
# test, so pgrep finds only this test's apps when tests run in parallel.)
cs_cmd start com.example.hello -- sleep:47 >/dev/null
kill -TERM "$daemon_pid"
wait "$daemon_pid"
run 0 "daemon exited" true
grep -q 'stopping every app' daemon.log && pass "shutdown logged" || fail "shutdown logged"
[ ! -e "$CS_TMP/ctl/control.sock" ] && pass "socket removed on exit" || fail "socket removed on exit"
pgrep -f "cashstory-app.*sleep:47$" >/dev/null && fail "no app left after shutdown" ||
    pass "no app left after shutdown"

# kill -9 of the daemon takes its sandboxes with it; a new daemon starts on
# the stale socket.
start_daemon
cs_cmd start com.example.hello -- sleep:47 >/dev/null
kill -9 "$daemon_pid"
wait "$daemon_pid" 2>/dev/null
# The kernel ends the sandboxes asynchronously; a loaded machine needs time.
for _ in $(seq 1 100); do
    pgrep -f "cashstory-app.*sleep:47$" >/dev/null || break
    sleep 0.1
done
pgrep -f "cashstory-app.*sleep:47$" >/dev/null && fail "no orphan sandbox after kill -9" ||
    pass "no orphan sandbox after kill -9"
start_daemon
run 0 "new daemon on a stale socket" cs_cmd ps
kill -TERM "$daemon_pid"
wait "$daemon_pid"

finish
