# End-to-end test of the daemon's update agent: the periodic update run,
# and the automatic rollback of a freshly updated version that fails
# within its grace period.
source "$(dirname "$0")/lib.sh"
source "$CS_SOURCE_DIR/tests/update/nginx.sh"
source "$CS_SOURCE_DIR/tests/update/fixture.sh"

daemon="$(dirname "$CASHSTORY")/cashstoryd"
socket=$CS_TMP/ctl/control.sock
cs_cmd() {
    local cmd=$1
    shift
    "$CASHSTORY" "$cmd" --socket "$socket" "$@"
}

# The probe replaces the app host, so an app can exit at will ("exit:N")
# or run for a while ("sleep:N").
export CASHSTORY_APP_HOST="$CS_BUILD_DIR/tests/escape_probe"

fixture_start
copy_example app
pack_version app 1.0.0
echo "// 1.1.0" >>app/main.js
pack_version app 1.1.0
echo "// 1.2.0" >>app/main.js
pack_version app 1.2.0
echo "// 1.3.0" >>app/main.js
pack_version app 1.3.0
publish 1.0.0 stable
# Automatic rollback is turned on for the publisher, not as a default, so
# the daemon must apply publisher-scoped policy to the app that failed.
write_policy '{"repository": "corp", "channel": "stable"}'
printf '{ "publishers": { "%s": { "update": { "auto_rollback": true, "grace_seconds": 30 } } } }\n' \
    "$(cs key id pub.pub)" >"$CS_TMP/policy/managed/20-publisher.json"
run 0 "install 1.0.0" cs update com.example.hello
publish 1.1.0 stable
run 0 "update to 1.1.0" cs update

start_daemon() {
    "$daemon" --socket "$socket" >>daemon.log 2>&1 &
    daemon_pid=$!
    for _ in $(seq 1 50); do
        cs_cmd ps >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    fail "daemon started"
    cat daemon.log
}

stop_daemon() {
    kill "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null
}

# wait_for_version VERSION: wait up to 20 seconds for the installed version.
wait_for_version() {
    for _ in $(seq 1 200); do
        [ "$(installed_version)" = "$1" ] && return 0
        sleep 0.1
    done
    return 1
}

# wait_for_log PATTERN: wait up to 20 seconds for a daemon log line.
wait_for_log() {
    for _ in $(seq 1 200); do
        grep -Eq -- "$1" daemon.log && return 0
        sleep 0.1
    done
    return 1
}

# ---- automatic rollback ----

export CASHSTORY_UPDATE_INTERVAL=3600
start_daemon
run 0 "start the updated version" cs_cmd start com.example.hello -- exit:3
if wait_for_version 1.0.0; then
    pass "failed update rolled back"
else
    fail "failed update rolled back (still $(installed_version))"
    sed 's/^/    /' daemon.log
fi
wait_for_log "rolled back com.example.hello from 1.1.0 to 1.0.0: 1.1.0 failed [0-9]+ seconds after it started" &&
    pass "rollback logged" || fail "rollback logged"
run 0 "rolled-back version verifies" cs verify --installed com.example.hello
run 0 "update skips the rolled-back version" cs update
expect_output "rolled-back version held" "held: 1.1.0 was rolled back on this desktop"

# A failure of a version that is not the last update is left alone.
run 0 "start the old version" cs_cmd start com.example.hello -- exit:3
sleep 1
[ "$(installed_version)" = 1.0.0 ] && pass "old version stays after a failure" ||
    fail "old version stays after a failure"

# ---- no automatic rollback without policy ----

publish 1.2.0 stable
rm "$CS_TMP/policy/managed/20-publisher.json"
write_policy '{"repository": "corp", "channel": "stable", "auto_rollback": false, "grace_seconds": 30}'
run 0 "update to 1.2.0" cs update
run 0 "start 1.2.0 that fails" cs_cmd start com.example.hello -- exit:4
wait_for_log "1.2.0 failed [0-9]+ seconds after it started, within the grace period of 30 seconds; policy does not set auto_rollback" &&
    pass "failure without auto_rollback logged" || fail "failure without auto_rollback logged"
[ "$(installed_version)" = 1.2.0 ] && pass "1.2.0 kept without auto_rollback" ||
    fail "1.2.0 kept without auto_rollback"

# ---- a version that ran past its grace period is kept ----

write_policy '{"repository": "corp", "channel": "stable", "auto_rollback": true, "grace_seconds": 1}'
run 0 "rollback to 1.0.0" cs rollback com.example.hello
publish 1.3.0 stable
run 0 "update to 1.3.0" cs update
run 0 "start 1.3.0 for two seconds" cs_cmd start com.example.hello -- sleep:2
wait_for_log "com.example.hello \(instance [0-9a-f]+\) exited with status 0" &&
    pass "1.3.0 ran past its grace period" || fail "1.3.0 ran past its grace period"
sleep 0.5
run 0 "start 1.3.0 that fails" cs_cmd start com.example.hello -- exit:5
sleep 1.5
[ "$(installed_version)" = 1.3.0 ] && pass "confirmed version kept after a failure" ||
    fail "confirmed version kept after a failure"
stop_daemon

# ---- periodic update run ----

echo "// 1.4.0" >>app/main.js
pack_version app 1.4.0
publish 1.4.0 stable
write_policy '{"repository": "corp", "channel": "stable"}'
: >daemon.log
export CASHSTORY_UPDATE_INTERVAL=1
start_daemon
if wait_for_version 1.4.0; then
    pass "agent installed 1.4.0"
else
    fail "agent installed 1.4.0 (still $(installed_version))"
    sed 's/^/    /' daemon.log
fi
wait_for_log "update: com.example.hello: installed: installed 1.4.0 over 1.3.0" && pass "agent run logged" ||
    fail "agent run logged"
stop_daemon

finish
