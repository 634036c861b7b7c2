# End-to-end tests of the repository commands: init, add, promote,
# timestamp, rotate-key, delegate and verify, their key checks and their
# messages. An independent check in Python and openssl reproduces the
# canonical signed bytes of the format.
source "$(dirname "$0")/lib.sh"

cs() { cashstory "$@"; }

# hashes: the SHA-256 of every metadata file of the repository, one line each.
hashes() {
    (cd repo && sha256sum ./*.json delegations/*.json 2>/dev/null)
}

# json_get FILE EXPR: print a value of the "signed" part of a metadata file.
json_get() {
    python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["signed"]; print(eval(sys.argv[2]))' "$@"
}

# make_app DIR ID VERSION: a copy of the hello example with another id and version.
make_app() {
    copy_example "$1"
    python3 - "$1/cashstory.json" "$2" "$3" <<'EOF'
import json, sys
path, app_id, version = sys.argv[1:]
m = json.load(open(path))
m["id"], m["version"] = app_id, version
json.dump(m, open(path, "w"), indent=2)
EOF
}

cs key generate --out publisher >/dev/null
cs key generate --out stranger >/dev/null
make_app hello-1.0 com.example.hello 1.0.0
cs pack hello-1.0 --key publisher.key --out hello-1.0.0.csa >/dev/null
make_app hello-1.1 com.example.hello 1.1.0
echo '// one changed file' >>hello-1.1/main.js
cs pack hello-1.1 --key publisher.key --out hello-1.1.0.csa >/dev/null
nfiles=$(find hello-1.1 -type f | wc -l)

# Creating a repository.
run 2 "init without --keys" cs repo init repo
expect_output "init names --keys" '--keys DIR is required'
run 1 "init with keys inside the repository" cs repo init repo --keys repo/keys
expect_output "keys inside named" 'is inside the repository folder'
[ ! -e repo ] && pass "rejected init creates no folder" || fail "rejected init creates no folder"
run 1 "init with keys inside through .." cs repo init repo --keys other/../repo/keys
[ ! -e repo ] && [ ! -e other ] && pass "rejected init through .. creates no folder" ||
    fail "rejected init through .. creates no folder"
run 1 "init with a key folder that cannot be made" cs repo init new/repo --keys missing/keys
[ ! -e new ] && pass "failed init removes the folders it made" ||
    fail "failed init removes the folders it made"
mkdir empty-repo
mkdir -m 700 used-keys
cs key generate --out used-keys/targets >/dev/null
run 1 "init with a key folder that has role keys" cs repo init empty-repo --keys used-keys
expect_output "existing role key named" 'used-keys/targets.key already exists'
[ -z "$(ls -A empty-repo)" ] && [ "$(ls used-keys)" = "$(printf 'targets.key\ntargets.pub')" ] &&
    pass "failed init leaves existing folders as they were" ||
    fail "failed init leaves existing folders as they were"
rm -rf repo empty-repo used-keys
run 0 "repo help leaves out --store" cs repo add --help
expect_absent "no --store in repo help" '--store'
run 2 "repo commands reject --store" cs repo verify repo --store store
run 0 "init" cs repo init repo --keys keys
expect_output "init says where keys go" 'offline'
for f in 1.root.json root.json targets.json 1.targets.json snapshot.json 1.snapshot.json timestamp.json; do
    [ -f "repo/$f" ] && pass "init wrote $f" || fail "init wrote $f"
done
[ -d repo/blobs/sha256 ] && pass "init made blobs/sha256" || fail "init made blobs/sha256"
[ "$(stat -c %a keys)" = 700 ] && pass "key folder mode 0700" || fail "key folder mode 0700"
for role in root targets snapshot timestamp; do
    [ "$(stat -c %a keys/$role.key)" = 600 ] && pass "$role.key mode 0600" || fail "$role.key mode 0600"
done
run 1 "init twice" cs repo init repo --keys keys2
expect_output "init twice message" 'is a repository already'
run 0 "verify a new repository" cs repo verify repo
expect_output "verify summary" 'root 1, timestamp 1 .*snapshot 1, targets 1'

# The canonical signed bytes, rebuilt independently: compact JSON with
# sorted keys after the domain prefix, checked with openssl.
by_hand() { python3 "$CS_SOURCE_DIR/tests/e2e/metadata_sign.py" "$@"; }
for f in timestamp snapshot targets root; do
    run 0 "openssl verifies $f.json over the canonical bytes" by_hand verify repo/$f.json repo/root.json
done

# Adding packages.
run 2 "add without --channel" cs repo add repo hello-1.0.0.csa --keys keys
run 3 "add an untrusted package" cs repo add repo hello-1.0.0.csa --channel stable --keys keys
expect_output "untrusted signer named" 'not (in|trusted)'
before=$(hashes)
cp hello-1.0.0.csa tampered.csa
python3 - tampered.csa <<'EOF'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
i = data.find(b"Hello")
data[i] ^= 0x20
open(sys.argv[1], "wb").write(data)
EOF
run 3 "add a tampered package" cs repo add repo tampered.csa --channel stable --keys keys --trusted-key publisher.pub
[ "$before" = "$(hashes)" ] && pass "rejected packages change no metadata" || fail "rejected packages change no metadata"
[ -z "$(ls repo/blobs/sha256)" ] && pass "rejected packages store no blob" || fail "rejected packages store no blob"
[ ! -e repo/.staging ] && pass "staging folder removed" || fail "staging folder removed"

run 0 "add 1.0.0 to stable" cs repo add repo hello-1.0.0.csa --channel stable --keys keys --trusted-key publisher.pub
expect_output "add reports the version" 'added com.example.hello 1.0.0 to channel stable'
expect_output "add reports new blobs" "blobs: $((nfiles + 3)) new"
expect_output "add reports versions" 'published: root 1, targets 2, snapshot 2, timestamp 2'
[ "$(json_get repo/targets.json 's["targets"]["com.example.hello"]["channels"]["stable"]')" = 1.0.0 ] &&
    pass "stable points to 1.0.0" || fail "stable points to 1.0.0"
[ -f repo/2.targets.json ] && [ -f repo/2.snapshot.json ] && pass "versioned copies written" ||
    fail "versioned copies written"
cmp -s repo/1.targets.json repo/targets.json && fail "targets.json replaced" || pass "targets.json replaced"
index_blob=$(json_get repo/targets.json 's["targets"]["com.example.hello"]["versions"]["1.0.0"]["index"]["sha256"]')
tar -xOf hello-1.0.0.csa .cashstory/index.json | cmp -s - "repo/blobs/sha256/$index_blob" &&
    pass "index blob is the package index" || fail "index blob is the package index"
main_sha=$(sha256sum hello-1.0/main.js | cut -d' ' -f1)
cmp -s hello-1.0/main.js "repo/blobs/sha256/$main_sha" && pass "file blob named by its SHA-256" ||
    fail "file blob named by its SHA-256"

run 0 "add 1.1.0 to beta" cs repo add repo hello-1.1.0.csa --channel beta --keys keys --trusted-key publisher.pub
# Only the index, its signature, the manifest (its version changed) and the
# changed main.js are new; the publisher key and the other files are stored.
expect_output "one changed file uploads four blobs" "blobs: 4 new "
run 0 "add the same version again" cs repo add repo hello-1.1.0.csa --channel beta --keys keys --trusted-key publisher.pub
expect_output "same version stores nothing" 'blobs: 0 new'
make_app hello-1.1b com.example.hello 1.1.0
echo '// other content' >>hello-1.1b/main.js
cs pack hello-1.1b --key publisher.key --out hello-1.1.0b.csa >/dev/null
run 1 "add other content under a published version" cs repo add repo hello-1.1.0b.csa --channel beta --keys keys --trusted-key publisher.pub
expect_output "republish message" 'already lists com.example.hello version 1.1.0 with another package index'
before=$(hashes)
run 2 "add with an invalid channel" cs repo add repo hello-1.1.0.csa --channel 'Stable!' --keys keys --trusted-key publisher.pub
expect_output "invalid channel named" "channel name 'Stable!' is invalid: use 1 to 64 bytes of a-z"
run 2 "promote to an invalid channel" cs repo promote repo com.example.hello 1.0.0 --channel Stable --keys keys
expect_output "promote names the channel" "channel name 'Stable' is invalid"
run 2 "promote an invalid version" cs repo promote repo com.example.hello 1.0 --channel stable --keys keys
expect_output "invalid version named" "version '1.0' is invalid: use a semantic version"
run 2 "promote an invalid app id" cs repo promote repo Com.Example 1.0.0 --channel stable --keys keys
[ "$before" = "$(hashes)" ] && pass "usage errors change no metadata" || fail "usage errors change no metadata"

# Promoting.
run 0 "promote 1.1.0 to stable" cs repo promote repo com.example.hello 1.1.0 --channel stable --keys keys
expect_output "promote message" 'channel stable of com.example.hello now points to 1.1.0'
[ "$(json_get repo/targets.json 's["targets"]["com.example.hello"]["channels"]["stable"]')" = 1.1.0 ] &&
    pass "stable points to 1.1.0" || fail "stable points to 1.1.0"
run 1 "promote an unknown version" cs repo promote repo com.example.hello 9.9.9 --channel stable --keys keys
expect_output "unknown version named" 'does not list com.example.hello version 9.9.9'
run 0 "promote back to 1.0.0" cs repo promote repo com.example.hello 1.0.0 --channel stable --keys keys

# Offline keys: a host with only the online keys can re-sign the timestamp
# but cannot change targets.
mkdir -m 700 online
cp keys/timestamp.key keys/snapshot.key online/
make_app hello-1.2 com.example.hello 1.2.0
echo '// 1.2.0' >>hello-1.2/main.js
cs pack hello-1.2 --key publisher.key --out hello-1.2.0.csa >/dev/null
before=$(hashes)
blobs_before=$(ls repo/blobs/sha256 | wc -l)
run 1 "add without targets.key" cs repo add repo hello-1.2.0.csa --channel stable --keys online --trusted-key publisher.pub
expect_output "missing key named" 'online/targets.key not found'
[ "$before" = "$(hashes)" ] && pass "failed add changes no metadata" || fail "failed add changes no metadata"
[ "$blobs_before" = "$(ls repo/blobs/sha256 | wc -l)" ] && pass "failed add stores no blob" ||
    fail "failed add stores no blob"
cp keys/targets.key online/
rm online/snapshot.key
run 1 "add without snapshot.key" cs repo add repo hello-1.2.0.csa --channel stable --keys online --trusted-key publisher.pub
expect_output "missing snapshot key named" 'online/snapshot.key not found'
[ "$blobs_before" = "$(ls repo/blobs/sha256 | wc -l)" ] && pass "add without snapshot.key stores no blob" ||
    fail "add without snapshot.key stores no blob"
rm online/targets.key
cp keys/snapshot.key online/
snapshot_before=$(sha256sum repo/snapshot.json)
version_before=$(json_get repo/timestamp.json 's["version"]')
run 0 "timestamp with online keys" cs repo timestamp repo --keys online
[ "$(json_get repo/timestamp.json 's["version"]')" = $((version_before + 1)) ] &&
    pass "timestamp version raised" || fail "timestamp version raised"
[ "$snapshot_before" = "$(sha256sum repo/snapshot.json)" ] && pass "timestamp leaves the snapshot" ||
    fail "timestamp leaves the snapshot"
cp keys/targets.key online/timestamp.key
run 3 "timestamp with the wrong key" cs repo timestamp repo --keys online
expect_output "wrong key named" 'is not a key that may sign timestamp metadata'

# Expiry.
recent=$(date -u -d '-60 seconds' +%Y-%m-%dT%H:%M:%SZ)
run 0 "write a timestamp inside the clock skew" cs repo timestamp repo --keys keys --expires "$recent"
expect_output "skew allowance stated" "clients accept this timestamp until .* \\(300 s of clock skew\\), then reject it"
run 0 "verify accepts it within the clock skew" cs repo verify repo
expect_output "text output shows the real expiry" "timestamp [0-9]+ \\(expires $recent\\)"
run 0 "write an expired timestamp" cs repo timestamp repo --keys keys --expires 2020-01-01T00:00:00Z
expect_output "past expiry warned" 'in the past; clients reject this timestamp now'
run 1 "verify reports the expired timestamp" cs repo verify repo
expect_output "expiry named" 'timestamp.json: the timestamp role expired at 2020-01-01T00:00:00Z'
expect_output "renewal command named" "renew it with 'cashstory repo timestamp repo --keys KEYDIR'"
expect_absent "no clock blamed" 'desktop clock'
run 0 "timestamp refreshes" cs repo timestamp repo --keys keys
run 0 "verify after refresh" cs repo verify repo
expect_output "verify counts blobs" "1 app, 2 versions, $(ls repo/blobs/sha256 | wc -l) blobs"

# Keeping metadata fresh when nothing is published.
run 0 "resign targets" cs repo resign repo targets --keys keys
expect_output "resign targets publishes" 'published: root 1, targets [0-9]+, snapshot [0-9]+, timestamp'
run 0 "resign snapshot" cs repo resign repo snapshot --keys keys
run 1 "resign an unknown role" cs repo resign repo nobody --keys keys
expect_output "unknown role named" "'nobody' is neither root, targets, snapshot, timestamp nor a delegated role"
mkdir -m 700 timer online-ts
cp keys/timestamp.key keys/snapshot.key timer/
cp keys/timestamp.key online-ts/
# A snapshot that expires in 12 hours and targets that expire in 10 days,
# signed by hand with the repository's keys.
soon() { date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ; }
by_hand republish repo keys targets.json targets \
    "s['expires'] = '$(soon '+10 days')'; snap['expires'] = '$(soon '+12 hours')'"
run 0 "verify the hand-signed files" cs repo verify repo
snapshot_version=$(json_get repo/snapshot.json 's["version"]')
run 0 "timestamp renews a snapshot close to expiry" cs repo timestamp repo --keys timer
[ "$(json_get repo/snapshot.json 's["version"]')" = $((snapshot_version + 1)) ] &&
    pass "snapshot re-signed by the timer" || fail "snapshot re-signed by the timer"
expect_output "timer warns about targets" "warning: repo/targets.json expires at .*; re-sign it with 'cashstory repo resign repo targets'"
by_hand republish repo keys targets.json targets "snap['expires'] = '$(soon '+12 hours')'"
run 0 "timestamp without snapshot.key" cs repo timestamp repo --keys online-ts
expect_output "timer warns about the snapshot" "warning: repo/snapshot.json expires at .* 'cashstory repo resign repo snapshot'"
run 0 "resign targets clears the warning" cs repo resign repo targets --keys keys
run 0 "timestamp after the resign" cs repo timestamp repo --keys timer
expect_absent "no warning left" 'warning'
run 0 "verify after the resigns" cs repo verify repo

# Key rotation: every rotation publishes the next root, and a client that
# trusts only version 1 follows the chain.
for role in timestamp snapshot targets root; do
    run 0 "rotate the $role key" cs repo rotate-key repo $role --keys keys
    expect_output "rotate $role names the new key" 'new key id: [0-9a-f]{64}'
    expect_absent "rotate $role prints no zero time" '1970-01-01'
    [ -f keys/$role.retired-$(($(json_get repo/root.json 's["version"]') - 1)).key ] &&
        pass "old $role key kept" || fail "old $role key kept"
done
[ "$(json_get repo/root.json 's["version"]')" = 5 ] && pass "root version 5" || fail "root version 5"
for v in 1 2 3 4 5; do
    [ -f repo/$v.root.json ] && pass "$v.root.json kept" || fail "$v.root.json kept"
done
cmp -s repo/5.root.json repo/root.json && pass "root.json is the newest" || fail "root.json is the newest"
run 0 "openssl verifies root 5 with the keys of root 4" by_hand verify repo/5.root.json repo/4.root.json
run 0 "openssl verifies root 5 with its own keys" by_hand verify repo/5.root.json repo/5.root.json
run 1 "root 4 not signed by the root keys of 5" by_hand verify repo/4.root.json repo/5.root.json
run 0 "verify follows the root chain" cs repo verify repo
expect_output "verify reaches root 5" 'root 5'
cp repo/1.root.json trusted-root.json
run 0 "verify from a root outside the folder" cs repo verify repo --root trusted-root.json
python3 - trusted-root.json typo-root.json <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["signed"]["fromat"] = doc["signed"].pop("format")
json.dump(doc, open(sys.argv[2], "w"))
EOF
run 1 "verify from a root with a misspelled field" cs repo verify repo --root typo-root.json
expect_output "misspelled field named" "typo-root.json: signed: unknown field 'fromat' \\(did you mean 'format'\\?\\)"
run 1 "rotate an unknown role" cs repo rotate-key repo publisher --keys keys
expect_output "unknown role message" "role 'publisher' is not root, targets, snapshot or timestamp"
run 3 "old keys no longer sign" cs repo timestamp repo --keys online

# Delegation: the acme role may publish com.acme.* only.
run 2 "delegate without patterns" cs repo delegate repo acme --keys keys
run 2 "delegate an invalid role name" cs repo delegate repo ../acme --pattern 'com.acme.*' --keys keys
expect_output "invalid role named" "role name '../acme' is invalid: use 1 to 64 bytes of a-z, 0-9 and '-'"
run 2 "delegate a reserved role name" cs repo delegate repo snapshot --pattern 'com.acme.*' --keys keys
expect_output "reserved name named" "role name 'snapshot' is reserved"
run 2 "delegate an invalid pattern" cs repo delegate repo acme --pattern 'com.acme*' --keys keys
expect_output "invalid pattern named" "pattern 'com.acme\\*' is invalid"
[ ! -e keys/delegation-acme.key ] && pass "usage errors generate no key" || fail "usage errors generate no key"
targets_version=$(json_get repo/targets.json 's["version"]')
run 0 "delegate com.acme.*" cs repo delegate repo acme --pattern 'com.acme.*' --keys keys
expect_output "delegate names each file" "published: root 5, targets $((targets_version + 1)), acme 1, snapshot"
[ -f keys/delegation-acme.key ] && pass "delegation key generated" || fail "delegation key generated"
[ -f repo/delegations/acme.json ] && [ -f repo/delegations/1.acme.json ] &&
    pass "empty delegated file written" || fail "empty delegated file written"
make_app chart com.acme.chart 2.0.0
cs pack chart --key publisher.key --out chart.csa >/dev/null
mkdir -m 700 acme
cp keys/delegation-acme.key keys/snapshot.key keys/timestamp.key acme/
run 0 "publisher adds its own app" cs repo add repo chart.csa --channel stable --keys acme --trusted-key publisher.pub
expect_output "delegated file re-signed" 'published: root 5, acme 2'
[ "$(json_get repo/delegations/acme.json 's["targets"]["com.acme.chart"]["channels"]["stable"]')" = 2.0.0 ] &&
    pass "app listed in the delegated file" || fail "app listed in the delegated file"
run 1 "publisher cannot add another publisher's app" cs repo add repo hello-1.1.0.csa --channel stable --keys acme --trusted-key publisher.pub
expect_output "targets key needed" 'acme/targets.key not found'
run 1 "delegating an app the top level lists" cs repo delegate repo hello --pattern com.example.hello --keys keys
expect_output "overlap named" "app 'com.example.hello' is delegated to role 'hello'"
[ ! -e keys/delegation-hello.key ] && [ ! -e keys/delegation-hello.pub ] &&
    pass "failed delegate removes its new key" || fail "failed delegate removes its new key"
run 1 "patterns that exclude a listed app" cs repo delegate repo acme --pattern 'com.acme.tools.*' --keys keys
expect_output "excluded app named" "role 'acme' lists app 'com.acme.chart', which the new delegations no longer give it"
run 0 "verify with a delegation" cs repo verify repo
expect_output "verify counts the delegation" '1 delegation, 2 apps, 3 versions'
run 0 "delegate again with the same key" cs repo delegate repo acme --pattern 'com.acme.*' --pattern 'org.acme.tools' --keys keys
expect_output "existing key not called new" '^key id: [0-9a-f]{64}'
expect_output "unchanged delegated file not listed" 'published: root 5, targets [0-9]+, snapshot'
expect_absent "no acme version" 'acme [0-9]'

# A package signed with an X.509 code-signing certificate has no signer key
# blob; repo verify checks its CMS signature.
mkdir pki
(
    cd pki || exit 1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=Repository Test CA" -keyout ca.key -out ca.pem \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj "/CN=Repository Test Signer" -keyout signer.key -out signer.csr 2>/dev/null
    printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature' \
        'extendedKeyUsage=codeSigning' 'subjectKeyIdentifier=hash' 'authorityKeyIdentifier=keyid' >signer.ext
    openssl x509 -req -in signer.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -extfile signer.ext -out signer.pem 2>/dev/null
)
printf '{ "ca_certificates": [ "pki/ca.pem" ] }\n' >trust-x509.json
make_app signed-x509 com.example.certified 1.0.0
run 0 "pack with a certificate" cs pack signed-x509 --key pki/signer.key --cert pki/signer.pem --out certified.csa
run 0 "add an X.509 package" cs repo add repo certified.csa --channel stable --keys keys --trust trust-x509.json
[ "$(json_get repo/targets.json '"signer_key" in s["targets"]["com.example.certified"]["versions"]["1.0.0"]')" = False ] &&
    pass "X.509 package lists no signer key" || fail "X.509 package lists no signer key"
run 0 "verify checks the CMS signature" cs repo verify repo

# Re-signing the root and a delegated role.
run 0 "resign root" cs repo resign repo root --keys keys
expect_output "resign root publishes root 6" 'published: root 6'
cmp -s repo/6.root.json repo/root.json && pass "root.json is root 6" || fail "root.json is root 6"
run 0 "openssl verifies root 6 with the keys of root 5" by_hand verify repo/6.root.json repo/5.root.json
run 0 "resign a delegated role" cs repo resign repo acme --keys acme
expect_output "resign acme publishes" 'published: root 6, acme [0-9]+'
run 0 "resign acme as JSON" cs repo resign repo acme --keys acme --json
expect_output "JSON names the role version" '"role_version": [1-9][0-9]*'
expect_output "JSON targets version 0" '"targets_version": 0'
run 0 "resign root as JSON" cs repo resign repo root --keys keys --json
expect_absent "JSON without a timestamp has no expiry" 'timestamp_expires'
run 0 "verify after the root resign" cs repo verify repo
expect_output "verify reaches root 7" 'root 7'

# Verify finds damage.
chmod u+w "repo/blobs/sha256/$main_sha"
printf 'x' >>"repo/blobs/sha256/$main_sha"
run 3 "verify finds a changed blob" cs repo verify repo
expect_output "changed blob named" "file 'main.js'.*blob $main_sha has more bytes than the"
cp hello-1.0/main.js "repo/blobs/sha256/$main_sha"
run 0 "verify after repair" cs repo verify repo
cp repo/4.snapshot.json repo/snapshot.json
run 3 "verify finds a stale snapshot.json" cs repo verify repo
expect_output "stale copy named" 'snapshot.json differs from'

finish
