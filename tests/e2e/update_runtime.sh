# End-to-end test of runtime packages: an app that needs a newer runtime is
# held back until the runtime package arrives through the same repository,
# and then runs on that runtime's app host.
source "$(dirname "$0")/lib.sh"
source "$CS_SOURCE_DIR/tests/update/nginx.sh"
source "$CS_SOURCE_DIR/tests/update/fixture.sh"

fixture_start
write_policy '{"repository": "corp", "channel": "stable"}'

# A runtime package whose app host is the test probe, so that a run shows
# which host started.
mkdir -p runtime/bin
cp "$CS_BUILD_DIR/tests/escape_probe" runtime/bin/cashstory-app
chmod 755 runtime/bin/cashstory-app
echo "// CashStory Runtime 2.0.0" >runtime/runtime.js
cat >runtime/cashstory.json <<'JSON'
{ "id": "io.cashstory.runtime", "name": "CashStory Runtime", "version": "2.0.0", "main": "runtime.js" }
JSON
cs pack runtime --key pub.key --out 2.0.0.csa >/dev/null
publish 2.0.0 stable

copy_example app
python3 - app/cashstory.json <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["runtime"] = ">=2.0.0 <3.0.0"
json.dump(m, open(sys.argv[1], "w"), indent=2)
PY
pack_version app 1.0.0
publish 1.0.0 stable

run 0 "app that needs runtime 2 is held" cs update com.example.hello
expect_output "held reason names the range and the runtimes" \
    "^com.example.hello: held: 1.0.0 needs a runtime this desktop lacks: no runtime satisfies '>=2.0.0 <3.0.0'; available: [0-9.]+ \(built in\)"
[ "$(installed_version)" = none ] && pass "app not installed" || fail "app not installed"

run 0 "install the runtime package" cs update io.cashstory.runtime
expect_output "runtime installed" "^io.cashstory.runtime: installed: installed 2.0.0"
run 0 "app installs once the runtime is there" cs update com.example.hello
expect_output "app installed" "^com.example.hello: installed: installed 1.0.0"

run 7 "app runs on the runtime package's host" cs run com.example.hello --verbose -- exit:7
expect_output "launch names the runtime" "runtime 2.0.0 \(installed package\)"

# A version staged for the next start becomes current when the app starts.
echo "// 1.1.0" >>app/main.js
pack_version app 1.1.0
publish 1.1.0 stable
write_policy '{"repository": "corp", "channel": "stable", "apply": "next-start"}'
run 0 "stage 1.1.0 for the next start" cs update com.example.hello
expect_output "1.1.0 staged" "^com.example.hello: staged: 1.1.0"
run 7 "start with a staged version" cs run com.example.hello --verbose -- exit:7
expect_output "launch names the staged version" \
    "com.example.hello: switched to version 1.1.0, which the last update staged"
[ "$(installed_version)" = 1.1.0 ] && pass "staged version current after the start" ||
    fail "staged version current after the start"

# A changed file in the runtime package stops the launch.
host="$(readlink -f "$CASHSTORY_STORE/apps/io.cashstory.runtime/current")/bin/cashstory-app"
chmod u+w "$host"
printf 'x' >>"$host"
run 3 "tampered runtime refused" cs run com.example.hello -- exit:7
expect_output "tampered runtime named" "runtime 2.0.0"

finish
