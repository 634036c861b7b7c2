# End-to-end test of group policy. It runs 'policy check', 'show' and
# 'explain' on a policy folder, then changes the policy of apps that
# cashstoryd runs. A revoked bus subscription ends at once, a changed
# file-system grant restarts the app without the grant, and a broken file
# stops everything. Every denial is logged once, and decisions reach the
# audit log.
source "$(dirname "$0")/lib.sh"

daemon="$(dirname "$CASHSTORY")/cashstoryd"
export CASHSTORY_APP_HOST="${CASHSTORY_APP:-$CS_BUILD_DIR/src/app/cashstory-app}"
socket="$CS_TMP/ctl/control.sock"
cs() { local cmd=$1; shift; timeout 60 "$CASHSTORY" "$cmd" --socket "$socket" "$@"; }

"$CASHSTORY" key generate --out pub >/dev/null
mkdir -p shared
echo "hello" >shared/note.txt
chmod -R a+rX shared

# The listener subscribes to quotes and reads a shared file; it logs each
# change in what it can read.
mkdir -p listener talker
cat >listener/cashstory.json <<JSON
{ "id": "com.example.listener", "name": "Listener", "version": "1.0.0", "main": "main.js",
  "permissions": { "bus": { "subscribe": ["quotes/*"] },
                   "fs": [ { "path": "$CS_TMP/shared", "access": "read" } ] } }
JSON
cat >listener/main.js <<JS
let last = '';
cashstory.bus.subscribe('quotes/*', (m) => console.log('got ' + m.topic));
setInterval(async () => {
    let now;
    try {
        now = 'read ok: ' + (await cashstory.fs.readFile('$CS_TMP/shared/note.txt', 'utf8')).trim();
    } catch (e) {
        now = 'read failed';
    }
    if (now !== last)
        console.log(now);
    last = now;
}, 200);
JS
cat >talker/cashstory.json <<'JSON'
{ "id": "com.example.talker", "name": "Talker", "version": "1.0.0", "main": "main.js",
  "permissions": { "bus": { "publish": ["quotes/*", "orders/*"] } } }
JSON
cat >talker/main.js <<'JS'
setInterval(() => {
    cashstory.bus.publish('quotes/EURUSD', { bid: 1.1 }).catch(() => {});
    cashstory.bus.publish('orders/new', { qty: 1 }).catch(() => {});
}, 150);
JS
for app in listener talker; do
    "$CASHSTORY" pack "$app" --key pub.key --out "$app.csa" >/dev/null
    "$CASHSTORY" install "$app.csa" --trusted-key pub.pub >/dev/null
done

policies="$CS_TMP/policies"
mkdir -p "$policies/managed" "$policies/recommended"
write_policy() { # SUBSCRIBE_GRANT FS_GRANT
    local subscribe='' fs=''
    [ "$1" = yes ] && subscribe='"bus": { "subscribe": ["quotes/*"] },'
    [ "$2" = yes ] && fs='{ "path": "'$CS_TMP'/shared", "access": "read" }'
    cat >"$policies/managed/10-desk.json.tmp" <<JSON
{
  "description": "Test desk",
  "audit": { "path": "$CS_TMP/audit/audit.jsonl" },
  "apps": {
    "com.example.listener": { $subscribe "fs": [ $fs ] },
    "com.example.talker": { "bus": { "publish": ["quotes/*"] } }
  }
}
JSON
    mv "$policies/managed/10-desk.json.tmp" "$policies/managed/10-desk.json"
}
write_policy yes yes
echo '{ "defaults": { "limits": { "memory_mb": 1024 } } }' >"$policies/recommended/50-limits.json"
chmod 644 "$policies"/*/*.json

# ---- check, show, explain ------------------------------------------------
run 0 "policy check accepts the folder" "$CASHSTORY" policy check "$policies"
expect_output "check counts the files" "2 policy files, no problems"

mkdir -p bad/managed
printf '{\n  "apps": {\n    "com.example.listener": { "bsu": {} }\n  },\n  "defaults": { "fs": [ ] ,, }\n}\n' \
    >bad/managed/10-bad.json
run 1 "policy check refuses broken JSON" "$CASHSTORY" policy check bad
expect_output "broken JSON: file and line named" "10-bad.json.*line 5"
printf '{ "apps": { "com.example.listener": { "bsu": {} } } }\n' >bad/managed/10-bad.json
run 1 "policy check refuses an unknown key" "$CASHSTORY" policy check bad
expect_output "unknown key named with the nearest key" "10-bad.json: apps.\"com.example.listener\": unknown field 'bsu' \(did you mean"
mkdir -p empty
run 1 "policy check refuses a folder without policy files" "$CASHSTORY" policy check empty
if [ "$(id -u)" -eq 0 ]; then
    cp "$policies/managed/10-desk.json" bad/managed/10-bad.json
    chmod 666 bad/managed/10-bad.json
    run 1 "policy check reports a file others can write" "$CASHSTORY" policy check bad
    expect_output "unsafe file named as ignored" "10-bad.json: ignored: writable by group or others"
fi

run 0 "policy show" "$CASHSTORY" policy show --policy "$policies"
expect_output "show names each value's file" "apps.\"com.example.talker\" bus.publish = \[\"quotes/\*\"\]  \(.*/managed/10-desk.json\)"
run 0 "policy show --json" "$CASHSTORY" policy show --policy "$policies" --json
printf '%s\n' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["files"]) == 2' &&
    pass "policy show --json lists the files" || fail "policy show --json lists the files"

run 0 "policy explain" "$CASHSTORY" policy explain com.example.talker --policy "$policies" --trusted-key pub.pub
expect_output "explain: granted topic with its rule" "^bus publish 'quotes/\*': granted"
expect_output "explain: the rule is named" "rule managed apps.\"com.example.talker\".bus.publish\[0\] = \"quotes/\*\""
expect_output "explain: denied topic" "^bus publish 'orders/\*': denied"
expect_output "explain: why it is denied" "no policy rule grants it"
expect_output "explain: limits from the recommended file" "limits: memory 1024 MiB"
run 0 "policy explain one permission" "$CASHSTORY" policy explain com.example.listener fs --policy "$policies" --trusted-key pub.pub
expect_output "explain fs: granted read" "^fs read '$CS_TMP/shared': granted"
expect_absent "explain fs: nothing else" "^bus"
run 2 "policy explain refuses an unknown permission" "$CASHSTORY" policy explain com.example.listener disk --policy "$policies"

# ---- trust from policy -----------------------------------------------------
"$CASHSTORY" key generate --out vendor >/dev/null
vendor_id=$("$CASHSTORY" key id vendor.pub)
mkdir -p vendor
cat >vendor/cashstory.json <<'JSON'
{ "id": "com.example.vendor", "name": "Vendor", "version": "1.0.0", "main": "main.js" }
JSON
echo 'console.log("vendor app ran");' >vendor/main.js
"$CASHSTORY" pack vendor --key vendor.key --out vendor.csa >/dev/null
run 3 "a publisher no one trusts is rejected" "$CASHSTORY" install vendor.csa
mkdir -p trusting/managed
printf '{ "trust": { "publishers": [ { "name": "Vendor", "key_id": "%s" } ] } }\n' "$vendor_id" \
    >trusting/managed/10-trust.json
chmod 644 trusting/managed/10-trust.json
run 0 "a publisher that policy trusts installs" env CASHSTORY_POLICY="$CS_TMP/trusting" "$CASHSTORY" install vendor.csa
run 0 "and runs" "$CASHSTORY" run com.example.vendor --policy trusting
expect_output "the trusted app ran" "^vendor app ran"
printf '{ "trust": { "blocked_publishers": [ "%s" ] } }\n' "$vendor_id" >trusting/managed/20-block.json
chmod 644 trusting/managed/20-block.json
run 1 "a blocked publisher does not run" "$CASHSTORY" run com.example.vendor --policy trusting
expect_output "the block names its rule" "its publisher is blocked by policy .*20-block.json, rule managed trust.blocked_publishers\[0\]"

# ---- the daemon applies changes to running apps ---------------------------
"$daemon" --socket "$socket" --trusted-key pub.pub --policy "$policies" >daemon.log 2>&1 &
daemon_pid=$!
for _ in $(seq 1 50); do
    cs ps >/dev/null 2>&1 && break
    sleep 0.1
done

# wait_log APP PATTERN: wait up to 30 s until the app's log matches.
wait_log() {
    for _ in $(seq 1 150); do
        cs logs "$1" 2>/dev/null | grep -Eq -- "$2" && return 0
        sleep 0.2
    done
    return 1
}
count_log() { cs logs "$1" 2>/dev/null | grep -Ec -- "$2"; }

run 0 "start the listener" cs start com.example.listener
first_instance=$(printf '%s\n' "$out" | sed -n 's/.*instance \([0-9a-f]*\).*/\1/p')
run 0 "start the talker" cs start com.example.talker
wait_log com.example.listener '^got quotes/EURUSD' && pass "listener receives quotes" ||
    fail "listener receives quotes"
wait_log com.example.listener '^read ok: hello' && pass "listener reads the granted file" ||
    fail "listener reads the granted file"

sleep 1
out=$(cat daemon.log)
expect_count "a repeated denial is logged once" 1 "denied bus publish 'orders/new' for com.example.talker"
expect_output "the denial names the reason" "denied bus publish 'orders/new' for com.example.talker: no policy rule grants it"

# Revoke the subscription: it ends at once, the app keeps running.
write_policy no yes
run 0 "policy reload" timeout 60 "$CASHSTORY" policy reload --socket "$socket"
expect_output "reload reports the bus change" "com.example.listener \(instance $first_instance\): bus grants updated"
sleep 0.5
before=$(count_log com.example.listener '^got ')
sleep 1.5
after=$(count_log com.example.listener '^got ')
[ "$before" -gt 0 ] && [ "$before" -eq "$after" ] &&
    pass "no quotes after the subscription is revoked" ||
    fail "no quotes after the subscription is revoked ($before, then $after)"
grep -q "subscription to 'quotes/\*' ended; policy no longer grants it" daemon.log &&
    pass "the ended subscription is logged" || fail "the ended subscription is logged"

# Give the subscription back and take the file away, without a reload
# command: the daemon notices the folder change, restarts the listener without
# the grant, and the new instance subscribes again.
write_policy yes no
restarted=no
for _ in $(seq 1 100); do
    grep -q "restarting com.example.listener (instance $first_instance): its file-system grants or limits changed" daemon.log &&
        restarted=yes && break
    sleep 0.2
done
[ "$restarted" = yes ] && pass "a folder change restarts the app whose grants changed" ||
    fail "a folder change restarts the app whose grants changed"
grep -q "policy reloaded (the policy folder changed)" daemon.log &&
    pass "the folder change is logged" || fail "the folder change is logged"
wait_log com.example.listener '^read failed' && pass "the restarted app cannot read the file" ||
    fail "the restarted app cannot read the file"
run 0 "ps after the restart" cs ps --json
printf '%s\n' "$out" | python3 -c '
import json, sys
apps = [a for a in json.load(sys.stdin) if a["app"] == "com.example.listener" and a["state"] == "running"]
assert len(apps) == 1, apps
assert apps[0]["instance"] != sys.argv[1], (apps, sys.argv[1])
' "$first_instance" && pass "a new listener instance runs" || fail "a new listener instance runs"
wait_log com.example.listener '^got quotes/EURUSD' && pass "the new instance receives quotes again" ||
    fail "the new instance receives quotes again"

# Decisions reach the audit log as JSON lines.
python3 - "$CS_TMP/audit/audit.jsonl" <<'PY' && pass "audit log records grants and denials" || fail "audit log records grants and denials"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert any(l["decision"] == "granted" and l["permission"] == "bus.subscribe" for l in lines)
assert any(l["decision"] == "denied" and l["target"] == "bus publish 'orders/new'" for l in lines)
assert all(l["app"] and l["time"] for l in lines)
PY

# A broken policy file fails closed: every app stops.
echo '{ "apps": ' >"$policies/managed/20-broken.json"
chmod 644 "$policies/managed/20-broken.json"
run 0 "reload with a broken file" timeout 60 "$CASHSTORY" policy reload --socket "$socket"
expect_output "reload names the broken file" "problem: .*20-broken.json"
expect_output "the listener is stopped" "com.example.listener \(instance [0-9a-f]*\): stopped"
expect_output "the talker is stopped" "com.example.talker \(instance [0-9a-f]*\): stopped"
run 1 "no app starts under a broken policy" cs start com.example.talker
expect_output "the refusal names the broken file" "20-broken.json cannot be used"

kill -TERM "$daemon_pid"
wait "$daemon_pid"
[ $? -eq 0 ] && pass "daemon stopped cleanly" || fail "daemon stopped cleanly"
if [ "$tests_failed" -ne 0 ]; then
    echo "# the end of the daemon's log:"
    tail -80 daemon.log | sed 's/^/#   /'
fi
finish
