# End-to-end tests of the update client against the attacks of the TUF
# threat model, one case each, with a repository served by nginx over TLS on
# 127.0.0.1. The cases: arbitrary packages, rollback, indefinite freeze,
# fast-forward recovery after a key rotation, mix-and-match, endless data, a
# delegated publisher signing another publisher's app, a wrong server
# certificate and a plain-HTTP downgrade. Where an attack needs repository keys, the test
# plays an attacker who stole them and signs with openssl. Every case checks
# that the client refuses and that the installed version stays as it was.
source "$(dirname "$0")/lib.sh"
source "$CS_SOURCE_DIR/tests/update/nginx.sh"
source "$CS_SOURCE_DIR/tests/update/fixture.sh"

# The https server redirects /down/ to the plain-http server, for the
# downgrade case; its port must be known before nginx starts.
read -r NGINX_PORT NGINX_HTTP_PORT NGINX_WRONG_PORT <<<"$(nginx_free_ports)"
fixture_start "location /down/ { rewrite ^/down/(.*)\$ http://127.0.0.1:$NGINX_HTTP_PORT/repo/\$1 redirect; }"

# An attacker who stole keys edits and re-signs metadata with openssl,
# independently of the cashstory code (see tests/e2e/metadata_sign.py).
attacker() { python3 "$CS_SOURCE_DIR/tests/e2e/metadata_sign.py" "$@"; }

# Versions 1.0.0, 1.1.0 (main.js changed) and 1.2.0 of com.example.hello.
make_app app 3 2048
pack_version app 1.0.0
echo "// 1.1.0" >>app/main.js
pack_version app 1.1.0
echo "// 1.2.0" >>app/main.js
pack_version app 1.2.0
publish 1.0.0 stable
write_policy '{"repository": "corp", "channel": "stable"}'
run 0 "setup: install 1.0.0" cs update com.example.hello
cp -a "$CASHSTORY_STORE" store-1.0.0
cp -a www/repo repo-A
publish 1.1.0 stable
cp -a www/repo repo-B

# reset_store: the store as it was with 1.0.0 installed and state A trusted.
reset_store() {
    chmod -R u+w "$CASHSTORY_STORE" 2>/dev/null
    rm -rf "$CASHSTORY_STORE"
    cp -a store-1.0.0 "$CASHSTORY_STORE"
}

# serve DIR: publish a saved repository state.
serve() {
    chmod -R u+w www/repo 2>/dev/null
    rm -rf www/repo
    cp -a "$1" www/repo
}

# meta_version FILE: the version of a metadata file.
meta_version() {
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["signed"]["version"])' "$1"
}

# expect_version NAME VERSION: the installed version of com.example.hello.
expect_version() {
    local v
    v=$(installed_version)
    [ "$v" = "$2" ] && pass "$1" || fail "$1 (installed $v, expected $2)"
}

# The blob of main.js as 1.1.0 has it (app/ has 1.2.0 now).
sed -i '$d' app/main.js
main_blob_11=$(sha256sum app/main.js | cut -d' ' -f1)

# ---- control: the untouched repository updates ----

reset_store
serve repo-B
run 0 "control: update to 1.1.0" cs update com.example.hello
expect_version "control: 1.1.0 installed" 1.1.0

# ---- arbitrary package ----

# A changed file on the server, same size, no metadata change.
reset_store
serve repo-B
blob="www/repo/blobs/sha256/$main_blob_11"
chmod u+w "$blob"
sed -i 's/1\.1\.0/6.6.6/' "$blob"
run 3 "arbitrary package: changed file rejected" cs update com.example.hello
expect_output "arbitrary package: digest named" "main.js|SHA-256|digest"
expect_version "arbitrary package: 1.0.0 kept after a changed file" 1.0.0

# A bad publisher signature, listed by an attacker who has every
# repository key: the repository signs, the publisher did not.
reset_store
serve repo-B
head -c 64 /dev/urandom >forged.sig
forged=$(sha256sum forged.sig | cut -d' ' -f1)
cp forged.sig "www/repo/blobs/sha256/$forged"
attacker republish www/repo keys targets.json targets \
    "s['targets']['com.example.hello']['versions']['1.1.0']['signature'] = {'sha256': '$forged', 'size': 64}"
run 3 "arbitrary package: repo verify finds the bad signature" cs repo verify www/repo
expect_output "arbitrary package: repo verify names it" "signature does not match the package index"
nginx_clear_log
run 3 "arbitrary package: bad publisher signature rejected" cs update com.example.hello
expect_output "arbitrary package: signature named" "signature"
expect_version "arbitrary package: 1.0.0 kept after a bad signature" 1.0.0
[ "$(nginx_count "$(blob_path app/data/file1.bin)")" -eq 0 ] &&
    pass "arbitrary package: no file downloaded after a bad signature" ||
    fail "arbitrary package: no file downloaded after a bad signature"

# A well-formed package by a publisher the desktop does not trust, published
# by someone with the repository keys.
reset_store
serve repo-B
cs key generate --out stranger >/dev/null
sed -i 's/"version": "[^"]*"/"version": "1.2.0"/' app/cashstory.json
cs pack app --key stranger.key --out stranger.csa >/dev/null
run 0 "arbitrary package: stranger's package published" cs repo add www/repo stranger.csa --channel stable --keys keys --trusted-key stranger.pub
nginx_clear_log
run 3 "arbitrary package: untrusted publisher rejected" cs update com.example.hello
expect_output "arbitrary package: untrusted key named" "$(cs key id stranger.pub)|not trusted|trust"
expect_version "arbitrary package: 1.0.0 kept after an untrusted publisher" 1.0.0
blobs=$(nginx_count ' /repo/blobs/')
[ "$blobs" -le 3 ] && pass "arbitrary package: at most index, signature and key downloaded" ||
    fail "arbitrary package: at most index, signature and key downloaded ($blobs blob requests)"

# Metadata signed by a key that root does not list.
reset_store
serve repo-B
attacker edit www/repo/timestamp.json "s['version'] += 1" stranger.key
run 3 "arbitrary package: timestamp by an unknown key rejected" cs update com.example.hello
expect_output "arbitrary package: timestamp signatures counted" "0 valid signatures by keys of the timestamp role"
expect_version "arbitrary package: 1.0.0 kept after a forged timestamp" 1.0.0

# ---- rollback: older metadata ----

reset_store
serve repo-B
run 0 "rollback: client trusts state B" cs update com.example.hello
serve repo-A
run 3 "rollback: older metadata rejected" cs update com.example.hello
expect_output "rollback: lower version named" "is lower than the trusted"
expect_version "rollback: 1.1.0 kept" 1.1.0
[ "$(meta_version "$CASHSTORY_STORE/update/repos/corp/timestamp.json")" = "$(meta_version repo-B/timestamp.json)" ] &&
    pass "rollback: trusted timestamp not replaced" || fail "rollback: trusted timestamp not replaced"

# ---- indefinite freeze: an expired timestamp ----

reset_store
serve repo-B
cs repo timestamp www/repo --keys keys --expires "$(date -u -d '-10 minutes' +%Y-%m-%dT%H:%M:%SZ)" >/dev/null 2>&1
run 1 "freeze: expired timestamp rejected" cs update com.example.hello
expect_output "freeze: expiry named" "timestamp.json expired at"
expect_version "freeze: 1.0.0 kept" 1.0.0
serve repo-B
cs repo timestamp www/repo --keys keys --expires "$(date -u -d '-2 minutes' +%Y-%m-%dT%H:%M:%SZ)" >/dev/null 2>&1
run 0 "freeze: expired within the 5-minute clock skew accepted" cs update com.example.hello
expect_version "freeze: update within the skew" 1.1.0

# ---- fast-forward attack, then recovery by rotating the timestamp key ----

reset_store
serve repo-B
cp -a keys keys-before-rotation
cp www/repo/timestamp.json honest-timestamp.json
attacker edit www/repo/timestamp.json "s['version'] = 1000000" keys/timestamp.key
run 0 "fast-forward: a stolen timestamp key raises the version" cs update com.example.hello
[ "$(meta_version "$CASHSTORY_STORE/update/repos/corp/timestamp.json")" = 1000000 ] &&
    pass "fast-forward: client trusts version 1000000" || fail "fast-forward: client trusts version 1000000"
# The owner takes the server back and signs an honest timestamp: clients
# that saw the forged version reject it until the key changes.
cp honest-timestamp.json www/repo/timestamp.json
cs repo timestamp www/repo --keys keys >/dev/null
run 3 "fast-forward: honest timestamp rejected before the rotation" cs update com.example.hello
expect_output "fast-forward: rollback reported" "is lower than the trusted 1000000"
run 0 "fast-forward: rotate the timestamp key" cs repo rotate-key www/repo timestamp --keys keys
publish 1.2.0 stable
run 0 "fast-forward: client recovers through root 2" cs update com.example.hello
expect_version "fast-forward: 1.2.0 installed after recovery" 1.2.0
ts_now=$(meta_version "$CASHSTORY_STORE/update/repos/corp/timestamp.json")
[ "$ts_now" -lt 1000000 ] && pass "fast-forward: forged version forgotten" ||
    fail "fast-forward: forged version forgotten ($ts_now)"
[ -f "$CASHSTORY_STORE/update/repos/corp/root.json" ] &&
    [ "$(meta_version "$CASHSTORY_STORE/update/repos/corp/root.json")" = 2 ] &&
    pass "fast-forward: client trusts root 2" || fail "fast-forward: client trusts root 2"
# The later cases serve saved states signed by the keys before the rotation.
rm -rf keys
cp -a keys-before-rotation keys

# ---- mix-and-match: files of two repository states ----

reset_store
serve repo-B
n=$(python3 -c 'import json; print(json.load(open("www/repo/snapshot.json"))["signed"]["meta"]["targets.json"]["version"])')
chmod u+w "www/repo/$n.targets.json"
cp repo-A/targets.json "www/repo/$n.targets.json"
run 3 "mix-and-match: targets of another state rejected" cs update com.example.hello
expect_output "mix-and-match: digest mismatch named" "different repository states|SHA-256"
expect_version "mix-and-match: 1.0.0 kept after mixed targets" 1.0.0
reset_store
serve repo-B
n=$(python3 -c 'import json; print(json.load(open("www/repo/timestamp.json"))["signed"]["snapshot"]["version"])')
chmod u+w "www/repo/$n.snapshot.json"
cp repo-A/snapshot.json "www/repo/$n.snapshot.json"
run 3 "mix-and-match: snapshot of another state rejected" cs update com.example.hello
expect_version "mix-and-match: 1.0.0 kept after a mixed snapshot" 1.0.0

# ---- endless data: more bytes than the metadata lists ----

reset_store
serve repo-B
chmod u+w www/repo/timestamp.json
head -c $((20 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >>www/repo/timestamp.json
SECONDS=0
run 1 "endless data: 20 MiB timestamp rejected" cs update com.example.hello
expect_output "endless data: timestamp limit named" "16384|limit|too large|exceeds"
[ "$SECONDS" -lt 20 ] && pass "endless data: stopped early" || fail "endless data: stopped early (${SECONDS}s)"
reset_store
serve repo-B
n=$(python3 -c 'import json; print(json.load(open("www/repo/timestamp.json"))["signed"]["snapshot"]["version"])')
chmod u+w "www/repo/$n.snapshot.json"
head -c 100000 /dev/zero >>"www/repo/$n.snapshot.json"
run 1 "endless data: longer snapshot rejected" cs update com.example.hello
expect_version "endless data: 1.0.0 kept after a long snapshot" 1.0.0
reset_store
serve repo-B
blob="www/repo/blobs/sha256/$main_blob_11"
chmod u+w "$blob"
head -c $((8 * 1024 * 1024)) /dev/urandom >>"$blob"
run 1 "endless data: longer file blob rejected" cs update com.example.hello
expect_output "endless data: size named" "sent more than the expected [0-9]+ bytes"
expect_version "endless data: 1.0.0 kept after a long blob" 1.0.0
too_big=$(find "$CASHSTORY_STORE" -type f -size +1M | head -3)
[ -z "$too_big" ] && pass "endless data: nothing beyond the listed size kept" ||
    fail "endless data: nothing beyond the listed size kept ($too_big)"

# ---- a delegated publisher signing another publisher's app ----

# Role acme owns com.acme.*, role beta owns com.beta.*. Both apps are signed
# by the trusted publisher key, so only the delegation check can stop acme.
serve repo-B
cs repo delegate www/repo acme --pattern 'com.acme.*' --keys keys >/dev/null
cs repo delegate www/repo beta --pattern 'com.beta.*' --keys keys >/dev/null
for app_id in com.acme.chart com.beta.tool; do
    rm -rf "$app_id"
    copy_example "$app_id"
    sed -i "s/\"id\": \"[^\"]*\"/\"id\": \"$app_id\"/" "$app_id/cashstory.json"
    cs pack "$app_id" --key pub.key --out "$app_id.csa" >/dev/null
    cs repo add www/repo "$app_id.csa" --channel stable --keys keys >/dev/null
done
sed -i 's/"version": "[^"]*"/"version": "6.6.6"/' com.beta.tool/cashstory.json
echo '// not from beta' >>com.beta.tool/main.js
cs pack com.beta.tool --key pub.key --out rogue.csa >/dev/null
# The rogue version is stored by a scratch copy where beta lists it; acme's
# file then claims it.
cp -a www/repo scratch
cs repo add scratch rogue.csa --channel stable --keys keys >/dev/null
cp -n scratch/blobs/sha256/* www/repo/blobs/sha256/ 2>/dev/null
rogue_entry=$(python3 -c 'import json; print(json.dumps(json.load(open("scratch/delegations/beta.json"))["signed"]["targets"]["com.beta.tool"]["versions"]["6.6.6"]))')
cp -a www/repo delegated-honest
attacker republish www/repo keys delegations/acme.json delegation-acme \
    "s['targets']['com.beta.tool'] = {'channels': {'stable': '6.6.6'}, 'versions': {'6.6.6': $rogue_entry}}"
reset_store
run 0 "delegation: the other publisher's app installs" cs update com.beta.tool
beta_version=$("$CASHSTORY" list --json | python3 -c 'import json,sys; print([a["version"] for a in json.load(sys.stdin) if a["id"] == "com.beta.tool"][0])')
[ "$beta_version" = 1.0.0 ] && pass "delegation: beta's version, not acme's" ||
    fail "delegation: beta's version, not acme's ($beta_version)"
run 3 "delegation: acme's file rejected as a whole" cs update com.acme.chart
expect_output "delegation: outside the patterns named" "role 'acme' lists app 'com.beta.tool'"
[ -z "$("$CASHSTORY" list --json | python3 -c 'import json,sys; print([a["id"] for a in json.load(sys.stdin) if a["id"] == "com.acme.chart"])' | tr -d '[]')" ] &&
    pass "delegation: nothing installed from the rejected file" ||
    fail "delegation: nothing installed from the rejected file"
reset_store
serve delegated-honest
run 0 "delegation: honest delegated file accepted" cs update com.acme.chart

# ---- wrong server certificate ----

reset_store
serve repo-B
write_policy '{"repository": "corp", "channel": "stable"}' '{}' '{}' \
    "{\"url\": \"$NGINX_WRONG_NAME_URL/repo\", \"root\": \"$CS_TMP/www/repo/1.root.json\", \"ca_file\": \"$NGINX_CA\"}"
nginx_clear_log
run 1 "certificate: another host's certificate rejected" cs update com.example.hello
expect_output "certificate: host mismatch named" "certificate|SSL|TLS"
[ "$(nginx_count 'GET ')" -eq 0 ] && pass "certificate: no request sent" || fail "certificate: no request sent"
write_policy '{"repository": "corp", "channel": "stable"}' '{}' '{}' \
    "{\"url\": \"$NGINX_URL/repo\", \"root\": \"$CS_TMP/www/repo/1.root.json\", \"ca_file\": \"$NGINX_OTHER_CA\"}"
run 1 "certificate: server not signed by the configured CA rejected" cs update com.example.hello
expect_output "certificate: unknown CA named" "certificate|SSL|TLS"
expect_version "certificate: 1.0.0 kept" 1.0.0

# ---- plain-HTTP downgrade ----

write_policy '{"repository": "corp", "channel": "stable"}' '{}' '{}' \
    "{\"url\": \"$NGINX_HTTP_URL/repo\", \"root\": \"$CS_TMP/www/repo/1.root.json\"}"
nginx_clear_log
run 1 "downgrade: plain-HTTP repository held" cs update com.example.hello
expect_output "downgrade: plain HTTP named" "plain HTTP"
[ "$(nginx_count 'GET ')" -eq 0 ] && pass "downgrade: no request over plain HTTP" ||
    fail "downgrade: no request over plain HTTP"
write_policy '{"repository": "corp", "channel": "stable"}' '{}' '{}' \
    "{\"url\": \"$NGINX_URL/down\", \"root\": \"$CS_TMP/www/repo/1.root.json\", \"ca_file\": \"$NGINX_CA\"}"
nginx_clear_log
run 1 "downgrade: redirect to plain HTTP rejected" cs update com.example.hello
[ "$(nginx_count 'GET /down/.* 302')" -ge 1 ] && pass "downgrade: redirect sent" ||
    fail "downgrade: redirect sent"
[ "$(nginx_count 'GET /repo/')" -eq 0 ] && pass "downgrade: redirect not followed" ||
    fail "downgrade: redirect not followed"
expect_version "downgrade: 1.0.0 kept" 1.0.0

# ---- the nginx configuration of docs/repository.md ----

nginx_stop
sed -n '/nginx-repository-locations: begin/,/nginx-repository-locations: end/p' \
    "$CS_SOURCE_DIR/docs/repository.md" | sed '1,2d;$d' | sed '$d' >locations.conf
serve repo-B
mkdir -p www/repo/.staging && echo secret >www/repo/.staging/x
nginx_start "$CS_TMP/www/repo" "$(cat locations.conf)"
header() {
    curl -s -o /dev/null -D - --cacert "$NGINX_CA" "$NGINX_URL$1" | tr -d '\r' |
        awk -v h="$2" 'tolower($1) == tolower(h) ":" { $1 = ""; sub(/^ /, ""); print }'
}
status() {
    curl -s -o /dev/null -w '%{http_code}' --cacert "$NGINX_CA" "$NGINX_URL$1"
}
[ "$(header /timestamp.json Cache-Control)" = no-cache ] && pass "docs nginx: timestamp no-cache" ||
    fail "docs nginx: timestamp no-cache ($(header /timestamp.json Cache-Control))"
[ "$(header /targets.json Cache-Control)" = no-cache ] && pass "docs nginx: targets.json no-cache" ||
    fail "docs nginx: targets.json no-cache"
[ "$(header /2.snapshot.json Cache-Control)" = "public, max-age=31536000, immutable" ] &&
    pass "docs nginx: versioned snapshot immutable" || fail "docs nginx: versioned snapshot immutable"
[ "$(header "/blobs/sha256/$main_blob_11" Cache-Control)" = "public, max-age=31536000, immutable" ] &&
    pass "docs nginx: blob immutable" || fail "docs nginx: blob immutable"
[ "$(header /timestamp.json Content-Type)" = application/json ] && pass "docs nginx: JSON type" ||
    fail "docs nginx: JSON type"
[ "$(status /.staging/x)" = 404 ] && pass "docs nginx: staging folder not served" ||
    fail "docs nginx: staging folder not served"
[ "$(status /)" = 404 ] && pass "docs nginx: no listing" || fail "docs nginx: no listing"
reset_store
write_policy '{"repository": "corp", "channel": "stable"}' '{}' '{}' \
    "{\"url\": \"$NGINX_URL\", \"root\": \"$CS_TMP/www/repo/1.root.json\", \"ca_file\": \"$NGINX_CA\"}"
run 0 "docs nginx: the client updates through it" cs update com.example.hello
expect_version "docs nginx: 1.1.0 installed" 1.1.0

finish
