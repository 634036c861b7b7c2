# End-to-end test of the main job: cashstoryd runs the price feed and the
# blotter sandboxed, the blotter receives quotes with verified senders, an
# app that forges a sender is seen as itself, and a refused publish is
# reported to the app and logged.
source "$(dirname "$0")/lib.sh"

daemon="$(dirname "$CASHSTORY")/cashstoryd"
export CASHSTORY_APP_HOST="${CASHSTORY_APP:-$CS_BUILD_DIR/src/app/cashstory-app}"
socket="$CS_TMP/ctl/control.sock"
cs() { local cmd=$1; shift; "$CASHSTORY" "$cmd" --socket "$socket" "$@"; }

"$CASHSTORY" key generate --out pub >/dev/null
key_id=$("$CASHSTORY" key id pub.pub)

# An app that claims, in its data, to be the price feed.
mkdir -p forger
cat >forger/cashstory.json <<'JSON'
{ "id": "com.example.forger", "name": "Forger", "version": "6.6.6", "main": "main.js",
  "permissions": { "bus": { "publish": ["quotes/*"] } } }
JSON
cat >forger/main.js <<'JS'
(async () => {
    await cashstory.bus.ready;
    await new Promise((resolve) => setTimeout(resolve, 700));
    await cashstory.bus.publish('quotes/EURUSD', {
        pair: 'EURUSD', bid: 9.99,
        sender: { appId: 'com.example.pricefeed', verified: true, publisher: { keyId: 'x' } },
    });
    console.log('forged quote published');
})();
JS

for app in "$CS_SOURCE_DIR/examples/price-feed" "$CS_SOURCE_DIR/examples/blotter" forger; do
    name=$(basename "$app")
    "$CASHSTORY" pack "$app" --key pub.key --out "$name.csa" >/dev/null
    "$CASHSTORY" install "$name.csa" --trusted-key pub.pub >/dev/null
done
python3 - "$CS_SOURCE_DIR/examples/policy.json" policy.json <<'PY'
import json, sys
policy = json.load(open(sys.argv[1]))
policy["apps"]["com.example.forger"] = {"bus": {"publish": ["quotes/*"]}}
json.dump(policy, open(sys.argv[2], "w"))
PY

"$daemon" --socket "$socket" --trusted-key pub.pub --policy policy.json >daemon.log 2>&1 &
daemon_pid=$!
for _ in $(seq 1 50); do
    "$CASHSTORY" ps --socket "$socket" >/dev/null 2>&1 && break
    sleep 0.1
done

run 0 "start blotter" cs start com.example.blotter -- 6 "$key_id"
run 0 "start forger" cs start com.example.forger
run 0 "start price feed" cs start com.example.pricefeed -- 6
for _ in $(seq 1 100); do
    [ -e "$CASHSTORY_STORE/data/com.example.blotter/summary.json" ] && break
    sleep 0.1
done
sleep 0.3

run 0 "blotter logs" cs logs com.example.blotter
expect_output "quotes received with the sender" "^quotes/EURUSD [0-9.]+ from com\.example\.pricefeed 1\.0\.0 \(publisher key ${key_id:0:16}\.\.\., origin file://.*/price-feed\.csa\)"
expect_output "forged sender seen as the forger" '^rejected quotes/EURUSD from com\.example\.forger 6\.6\.6'
expect_output "summary written" '^summary: 6 accepted, 1 rejected'
if printf '%s\n' "$out" | grep -q '9\.99 from com\.example\.pricefeed'; then
    fail "forged quote never passes as the price feed"
else
    pass "forged quote never passes as the price feed"
fi
python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["accepted"] == 6, s
assert s["rejected"] == 1, s
assert "EURUSD" in s["last"], s
' "$CASHSTORY_STORE/data/com.example.blotter/summary.json" && pass "summary in the data folder" ||
    fail "summary in the data folder"

run 0 "price feed logs" cs logs com.example.pricefeed
expect_output "refused action reported to the app" "^refused: .*EACCES: publishing to topic 'orders/new' is not allowed"
grep -q "denied bus publish 'orders/new' for com.example.pricefeed: no policy rule grants it" daemon.log &&
    pass "refused action logged by the broker" || fail "refused action logged by the broker"
grep -q "com.example.blotter (.*) joined the bus" daemon.log && pass "joins logged" ||
    fail "joins logged"

kill -TERM "$daemon_pid"
wait "$daemon_pid" && pass "daemon stopped cleanly" || fail "daemon stopped cleanly"

finish
