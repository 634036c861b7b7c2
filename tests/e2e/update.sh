# End-to-end test of the update client against a repository served by nginx
# over TLS: first install, update, only changed files downloaded, rollback,
# pinned versions, the update window, staged rollout, --check --json, the
# next-start mode and plain http.
source "$(dirname "$0")/lib.sh"
source "$CS_SOURCE_DIR/tests/update/nginx.sh"
source "$CS_SOURCE_DIR/tests/update/fixture.sh"

fixture_start

# Ten data files, so that an update that changes one shows in the counts.
make_app app 10 4096
pack_version app 1.0.0
echo "// 1.1.0" >>app/main.js
pack_version app 1.1.0
head -c 4096 /dev/urandom >app/data/file3.bin
pack_version app 1.2.0
publish 1.0.0 stable
write_policy '{"repository": "corp", "channel": "stable"}'

# ---- first install ----

run 0 "first install" cs update com.example.hello
expect_output "first install: status line" "^com.example.hello: installed: installed 1.0.0 "
expect_output "first install: files counted" "13 of 13 files downloaded"
[ "$(installed_version)" = 1.0.0 ] && pass "1.0.0 installed" || fail "1.0.0 installed"
run 0 "installed version verifies" cs verify --installed com.example.hello
run 0 "list names the repository" cs list
expect_output "origin is the repository URL" "$NGINX_URL/repo"
[ -z "$(ls "$CASHSTORY_STORE/update/blobs/sha256")" ] && pass "blob cache emptied" ||
    fail "blob cache emptied ($(ls "$CASHSTORY_STORE/update/blobs/sha256"))"
for f in root timestamp snapshot targets; do
    [ "$f" = root ] && continue
    [ -f "$CASHSTORY_STORE/update/repos/corp/$f.json" ] && pass "trusted $f kept" ||
        fail "trusted $f kept"
done

run 0 "update without changes" cs update
expect_line "already current" "com.example.hello: current: 1.0.0 is current on channel stable"

# An app installed from a file that the repository does not publish.
copy_example local
sed -i 's/"com.example.hello"/"com.example.local"/' local/cashstory.json
cs pack local --key pub.key --out local.csa >/dev/null
cs install local.csa >/dev/null
run 0 "update of every app with an unpublished one" cs update
expect_line "unpublished app stays" "com.example.local: current: repository 'corp' does not publish it; 1.0.0 stays"
run 1 "update of the unpublished app by name" cs update com.example.local
expect_output "named unpublished app fails" "com.example.local: failed: repository 'corp' \\($NGINX_URL/repo\\) does not publish app 'com.example.local'"
cs remove com.example.local >/dev/null

# ---- --check --json ----

publish 1.1.0 stable
# A check refreshes the trusted metadata, and changes nothing else.
apps_state() { store_state | grep -v 'update/repos/'; }
before=$(apps_state)
nginx_clear_log
run 0 "check with a new version" cs update --check --json
json=$out
[ "$(json_field "$json" com.example.hello status)" = available ] && pass "check: available" ||
    fail "check: available ($json)"
[ "$(json_field "$json" com.example.hello target)" = 1.1.0 ] && pass "check: target 1.1.0" ||
    fail "check: target 1.1.0"
[ "$(json_field "$json" com.example.hello installed)" = 1.0.0 ] && pass "check: installed 1.0.0" ||
    fail "check: installed 1.0.0"
[ "$(json_field "$json" com.example.hello channel)" = stable ] && pass "check: channel" ||
    fail "check: channel"
[ "$(nginx_count ' /repo/blobs/')" -eq 0 ] && pass "check downloads no blob" ||
    fail "check downloads no blob"
[ "$(apps_state)" = "$before" ] && pass "check: store unchanged" || fail "check: store unchanged"
run 0 "check in text form" cs update --check
expect_line "check: text line" "com.example.hello: available: 1.1.0 would be installed"

# ---- update: only changed files ----

nginx_clear_log
run 0 "update to 1.1.0" cs update
expect_output "update: status line" "^com.example.hello: installed: installed 1.1.0 over 1.0.0 "
# cashstory.json and main.js changed; the index and its signature are
# fetched with every version, the signer key is copied from 1.0.0.
expect_output "update: two files downloaded, eleven reused" "2 of 13 files downloaded, [0-9]+ bytes; 11 reused"
[ "$(installed_version)" = 1.1.0 ] && pass "1.1.0 installed" || fail "1.1.0 installed"
blob_requests=$(nginx_count ' /repo/blobs/')
[ "$blob_requests" -eq 4 ] && pass "four blob requests (2 files, index, signature)" ||
    fail "four blob requests ($blob_requests)"
[ "$(nginx_count "$(blob_path app/data/file1.bin)")" -eq 0 ] && pass "unchanged file not downloaded" ||
    fail "unchanged file not downloaded"
[ "$(nginx_count ' /repo/blobs/.* 200 ')" -eq "$blob_requests" ] && pass "every blob request succeeded" ||
    fail "every blob request succeeded"
run 0 "updated version verifies" cs verify --installed com.example.hello

# ---- rollback ----

run 0 "rollback" cs rollback com.example.hello
expect_line "rollback: message" "rolled back com.example.hello from 1.1.0 to 1.0.0"
[ "$(installed_version)" = 1.0.0 ] && pass "1.0.0 current again" || fail "1.0.0 current again"
run 0 "rolled-back version verifies" cs verify --installed com.example.hello
run 0 "update after rollback" cs update
expect_output "rolled-back version held" "^com.example.hello: held: 1.1.0 was rolled back on this desktop"
[ "$(installed_version)" = 1.0.0 ] && pass "1.0.0 kept after rollback" || fail "1.0.0 kept after rollback"
run 0 "rollback --json undoes it" cs rollback com.example.hello --json
expect_output "rollback json" '"from": "1.0.0"'
[ "$(installed_version)" = 1.1.0 ] && pass "second rollback returns to 1.1.0" ||
    fail "second rollback returns to 1.1.0"
run 0 "rollback back to 1.0.0" cs rollback com.example.hello
publish 1.2.0 stable
run 0 "newer version after rollback" cs update
expect_output "1.2.0 installed over the rollback" "installed 1.2.0 over 1.0.0"
run 1 "rollback of an app that is not installed" cs rollback com.example.absent
expect_output "rollback: not installed message" "not installed"

# ---- pinned versions ----

write_policy '{"repository": "corp", "channel": "stable"}' '{}' \
    '{"com.example.hello": {"versions": {"pinned": "1.0.0"}}}'
run 0 "check with a pin" cs update --check
expect_line "pin: would install the pinned version" \
    "com.example.hello: available: 1.0.0 would be installed (pinned by policy)"
# 1.2.0 replaced 1.0.0, which stays as previous: going back to it copies
# every file from there.
nginx_clear_log
run 0 "update to the pinned version" cs update
[ "$(installed_version)" = 1.0.0 ] && pass "pinned 1.0.0 installed" || fail "pinned 1.0.0 installed"
expect_output "pin: every file reused from the previous version" "0 of 13 files downloaded"
[ "$(nginx_count ' /repo/blobs/')" -eq 0 ] && pass "pin: no blob downloaded" ||
    fail "pin: no blob downloaded ($(nginx_count ' /repo/blobs/') requests)"
run 0 "pinned app stays" cs update --check --json
[ "$(json_field "$out" com.example.hello status)" = pinned ] && pass "check: pinned" ||
    fail "check: pinned ($out)"
expect_output "pinned reason names the channel version" "channel stable offers 1.2.0"
write_policy '{"repository": "corp", "channel": "stable"}' '{}' \
    '{"com.example.*": {"versions": {"pinned": "9.9.9"}}}'
run 1 "pin to a version the repository lacks" cs update
expect_output "missing pinned version named" "policy pins version 9.9.9, but repository 'corp' \\($NGINX_URL/repo\\) has no version '9.9.9'"

# ---- range and minimum ----

write_policy '{"repository": "corp", "channel": "stable"}' '{"range": ">=1.0.0 <1.2.0"}'
run 0 "range excludes the channel version" cs update --check
expect_line "range: held" "com.example.hello: held: 1.2.0 is outside the allowed range '>=1.0.0 <1.2.0'"
write_policy '{"repository": "corp", "channel": "stable"}' '{"minimum": "1.3.0"}'
run 0 "minimum above the channel version" cs update --check
expect_line "minimum: held" "com.example.hello: held: 1.2.0 is below the minimum version 1.3.0"

# ---- update window ----

# A window that closed an hour ago and opens in an hour, and one that is
# open now, in local time.
closed="$(date -d '+1 hour' +%H):00-$(date -d '-1 hour' +%H):00"
open="$(date -d '-1 hour' +%H):00-$(date -d '+2 hour' +%H):00"
write_policy "{\"repository\": \"corp\", \"channel\": \"stable\", \"window\": \"$closed\"}"
run 0 "check outside the window" cs update --check --json
[ "$(json_field "$out" com.example.hello status)" = outside-window ] && pass "outside window" ||
    fail "outside window ($out)"
run 0 "update outside the window" cs update
[ "$(installed_version)" = 1.0.0 ] && pass "nothing installed outside the window" ||
    fail "nothing installed outside the window"
write_policy "{\"repository\": \"corp\", \"channel\": \"stable\", \"window\": \"$open\"}"
run 0 "check inside the window" cs update --check --json
[ "$(json_field "$out" com.example.hello status)" = available ] && pass "inside window" ||
    fail "inside window ($out)"

# ---- staged rollout ----

# Find a desktop inside a 30 % rollout, and one outside it but inside a
# 70 % rollout. Widening from 30 to 70 must keep the first and add the
# second.
rollout_status() {
    write_policy "{\"repository\": \"corp\", \"channel\": \"stable\", \"rollout_percent\": $2}"
    json=$(CASHSTORY_MACHINE_ID=$1 cs update --check --json)
    json_field "$json" com.example.hello status
}
inside30= outside30=
for m in $(seq 1 40); do
    s30=$(rollout_status "desk-$m" 30)
    if [ "$s30" = available ] && [ -z "$inside30" ]; then
        inside30=desk-$m
    elif [ "$s30" = not-in-rollout ] && [ -z "$outside30" ] &&
        [ "$(rollout_status "desk-$m" 70)" = available ]; then
        outside30=desk-$m
    fi
    [ -n "$inside30" ] && [ -n "$outside30" ] && break
done
[ -n "$inside30" ] && [ -n "$outside30" ] && pass "rollout groups found" ||
    fail "rollout groups found (inside: '$inside30', outside: '$outside30')"
[ "$(rollout_status "$inside30" 70)" = available ] && pass "widening keeps a desktop" ||
    fail "widening keeps a desktop"
[ "$(rollout_status "$inside30" 0)" = not-in-rollout ] && pass "0 % holds every desktop" ||
    fail "0 % holds every desktop"
[ "$(rollout_status "$outside30" 100)" = available ] && pass "100 % takes every desktop" ||
    fail "100 % takes every desktop"
write_policy '{"repository": "corp", "channel": "stable", "rollout_percent": 30}'
run 0 "update outside the rollout" env CASHSTORY_MACHINE_ID="$outside30" "$CASHSTORY" update
expect_output "not-in-rollout reason" "rolled out to 30% of desktops"
[ "$(installed_version)" = 1.0.0 ] && pass "desktop outside the rollout keeps 1.0.0" ||
    fail "desktop outside the rollout keeps 1.0.0"
run 0 "update inside the rollout" env CASHSTORY_MACHINE_ID="$inside30" "$CASHSTORY" update
[ "$(installed_version)" = 1.2.0 ] && pass "desktop inside the rollout takes 1.2.0" ||
    fail "desktop inside the rollout takes 1.2.0"

# ---- apply at the next start ----

echo "// 1.3.0" >>app/main.js
pack_version app 1.3.0
publish 1.3.0 stable
write_policy '{"repository": "corp", "channel": "stable", "apply": "next-start"}'
run 0 "update with apply next-start" cs update
expect_output "staged status" "^com.example.hello: staged: 1.3.0 is downloaded"
[ "$(installed_version)" = 1.2.0 ] && pass "running version unchanged until the next start" ||
    fail "running version unchanged until the next start"
[ -L "$CASHSTORY_STORE/apps/com.example.hello/next" ] && pass "next link set" || fail "next link set"
staged_dir=$(readlink "$CASHSTORY_STORE/apps/com.example.hello/next")
run 0 "check after staging" cs update --check
expect_line "check reports the staged version" \
    "com.example.hello: staged: 1.3.0 is staged and becomes current at the next start"
nginx_clear_log
run 0 "update after staging" cs update
expect_line "update reports the staged version" \
    "com.example.hello: staged: 1.3.0 is staged and becomes current at the next start"
[ "$(nginx_count ' /repo/blobs/')" -eq 0 ] && pass "staged version not downloaded again" ||
    fail "staged version not downloaded again ($(nginx_count ' /repo/blobs/') blob requests)"
[ "$(readlink "$CASHSTORY_STORE/apps/com.example.hello/next")" = "$staged_dir" ] &&
    pass "staged folder kept" || fail "staged folder kept"
run 0 "list with a staged version" cs list
expect_line "list names the staged version" \
    "com.example.hello: 1.3.0 is staged and becomes current at the next start"
run 0 "list --json with a staged version" cs list --json
expect_output "list --json staged field" '"staged": "1.3.0"'
# Policy turned to "immediately": the staged version becomes current
# without another download.
write_policy '{"repository": "corp", "channel": "stable"}'
nginx_clear_log
run 0 "update with the staged version, apply immediately" cs update
expect_line "staged version installed" "com.example.hello: installed: installed 1.3.0 over 1.2.0 (staged earlier)"
[ "$(nginx_count ' /repo/blobs/')" -eq 0 ] && pass "staged version installed without a download" ||
    fail "staged version installed without a download"
[ "$(installed_version)" = 1.3.0 ] && pass "1.3.0 current" || fail "1.3.0 current"

# ---- plain http ----

write_policy '{"repository": "corp", "channel": "stable"}' '{}' '{}' \
    "{\"url\": \"$NGINX_HTTP_URL/repo\", \"root\": \"$CS_TMP/www/repo/1.root.json\"}"
run 1 "plain http refused" cs update
expect_output "plain http: updates held by the policy error" "^com.example.hello: held: .*is plain HTTP"
write_policy '{"repository": "corp", "channel": "stable"}' '{}' '{}' \
    "{\"url\": \"$NGINX_HTTP_URL/repo\", \"root\": \"$CS_TMP/www/repo/1.root.json\", \"allow_http\": true}"
nginx_clear_log
run 0 "plain http allowed by policy" cs update --check
[ "$(nginx_count 'GET /repo/timestamp.json 200')" -eq 1 ] && pass "metadata fetched over http" ||
    fail "metadata fetched over http"

# ---- an app of a delegated publisher role ----

write_policy '{"repository": "corp", "channel": "stable"}'
cs repo delegate www/repo acme --pattern 'com.acme.*' --keys keys >/dev/null ||
    fail "delegate com.acme.* to the role acme"
copy_example tool
sed -i 's/"com.example.hello"/"com.acme.tool"/' tool/cashstory.json
pack_version tool 2.0.0
publish 2.0.0 stable
nginx_clear_log
run 0 "install a delegated app" cs update com.acme.tool
expect_output "delegated app installed" "^com.acme.tool: installed: installed 2.0.0"
[ "$(nginx_count 'GET /repo/delegations/[0-9]+.acme.json 200')" -eq 1 ] &&
    pass "delegated targets fetched by version" || fail "delegated targets fetched by version"
[ -f "$CASHSTORY_STORE/update/repos/corp/delegations/acme.json" ] && pass "delegated targets kept" ||
    fail "delegated targets kept"
run 0 "delegated app current" cs update com.acme.tool
expect_line "delegated app current line" "com.acme.tool: current: 2.0.0 is current on channel stable"

# ---- a publisher that policy trusts ----

printf '{ "trust": { "publishers": [ { "name": "Policy Publisher", "key_id": "%s" } ] } }\n' \
    "$(cs key id pub.pub)" >"$CS_TMP/policy/managed/20-trust.json"
echo '{}' >"$CS_TMP/empty-trust.json"
echo "// 1.4.0" >>app/main.js
pack_version app 1.4.0
publish 1.4.0 stable
write_policy '{"repository": "corp", "channel": "stable"}'
run 0 "update trusting the publisher through policy" env CASHSTORY_TRUST="$CS_TMP/empty-trust.json" \
    "$CASHSTORY" update com.example.hello
expect_output "policy-trusted publisher accepted" "^com.example.hello: installed: installed 1.4.0"
rm "$CS_TMP/policy/managed/20-trust.json"
echo "// 1.5.0" >>app/main.js
pack_version app 1.5.0
publish 1.5.0 stable
run 3 "update without any trust in the publisher" env CASHSTORY_TRUST="$CS_TMP/empty-trust.json" \
    "$CASHSTORY" update com.example.hello
expect_output "untrusted publisher named" "^com.example.hello: failed: .*not trusted"

# ---- errors ----

write_policy '{"repository": "other", "channel": "stable"}'
run 1 "unknown repository" cs update
expect_output "unknown repository named" "repository 'other'"
write_policy '{"repository": "corp", "channel": "beta"}'
run 1 "channel without the app" cs update com.example.hello
expect_output "missing channel named" "repository 'corp' \\($NGINX_URL/repo\\) has no version of app 'com.example.hello' on channel 'beta'"
run 2 "rollback without an id" cs rollback

# ---- --json output and exit status ----

write_policy '{"repository": "corp", "channel": "stable"}'
run 1 "check of an app the repository lacks" cs update --check --json com.example.nope
printf '%s\n' "$out" | python3 -c 'import json, sys
app = json.load(sys.stdin)["apps"][0]
sys.exit(0 if app["status"] == "failed" and "target" not in app and "installed" not in app else 1)' &&
    pass "json: report printed, target and installed absent" ||
    fail "json: report printed, target and installed absent ($out)"
expect_output "json: repository named" "repository 'corp' \\($NGINX_URL/repo\\) does not publish app 'com.example.nope'"

# ---- messages for broken repositories and policies ----

echo "// 1.6.0" >>app/main.js
echo "1.6.0" >app/data/note.txt
pack_version app 1.6.0
publish 1.6.0 stable
note_blob=www$(blob_path app/data/note.txt)
mv "$note_blob" "$CS_TMP/note.blob"
run 1 "update with a missing blob" cs update com.example.hello
expect_output "missing blob: status, file and version named" \
    "data/note.txt of com.example.hello 1.6.0: $NGINX_URL/repo/blobs/sha256/[0-9a-f]+: not found \\(HTTP 404\\)"
expect_output "missing blob: what to do" "tell its publisher"
echo "1.6.X" >"$note_blob"
run 3 "update with a damaged blob" cs update com.example.hello
expect_output "damaged blob: file, version and digest named" \
    "data/note.txt of com.example.hello 1.6.0: .*SHA-256 [0-9a-f]+, expected [0-9a-f]+"
expect_output "damaged blob: what to do" "cashstory repo verify"
mv "$CS_TMP/note.blob" "$note_blob"
nginx_clear_log
run 0 "verbose update names each download" cs update com.example.hello --verbose
downloads=$(printf '%s\n' "$out" | grep -c ': downloading ')
[ "$downloads" -ge 1 ] && [ "$downloads" -eq "$(nginx_count ' /repo/blobs/')" ] &&
    pass "verbose: one line per blob request ($downloads)" ||
    fail "verbose: one line per blob request ($downloads lines, $(nginx_count ' /repo/blobs/') requests)"

corp() {
    write_policy '{"repository": "corp", "channel": "stable"}' '{}' '{}' \
        "{\"url\": \"$NGINX_URL/repo\", \"root\": \"$1\", \"ca_file\": \"$2\"}"
}
corp "$CS_TMP/www/repo/1.root.json" "$NGINX_OTHER_CA"
run 1 "update with the wrong CA" cs update --check
expect_output "wrong CA: policy field and path named" \
    "check that repositories.corp.ca_file \\($NGINX_OTHER_CA\\) contains the CA certificate"
corp "$CS_TMP/www/repo/1.root.json" "$CS_TMP/absent-ca.pem"
run 1 "update with a missing CA file" cs update --check
expect_output "missing CA file: policy field named" \
    "repositories.corp.ca_file: cannot read $CS_TMP/absent-ca.pem"
corp "$CS_TMP/absent-root.json" "$NGINX_CA"
run 1 "update with a missing root file" cs update --check
expect_output "missing root file: policy field named" \
    "repositories.corp.root: .*$CS_TMP/absent-root.json.*such as its 1.root.json"
cs repo init www/other --keys other-keys >/dev/null || fail "init a second repository"
corp "$CS_TMP/www/other/1.root.json" "$NGINX_CA"
run 3 "update with another repository's root" cs update --check
expect_output "wrong root: root setting suggested" \
    "check that repositories.corp.root \\($CS_TMP/www/other/1.root.json\\) is a root file of this repository"
mkdir -p "$CS_TMP/no-policy"
run 1 "update without a repository in policy" env CASHSTORY_POLICY="$CS_TMP/no-policy" \
    "$CASHSTORY" update com.example.hello
expect_output "no repository: policy location named" \
    "the policy in $CS_TMP/no-policy lists no update repository"

finish
