# End-to-end tests of the cashstory commands on the example app: keys, pack,
# verify, install, list, remove, help texts and exit statuses.
source "$(dirname "$0")/lib.sh"

cs() { "$CASHSTORY" "$@"; }

# Help and version.
run 0 "version" cs --version
expect_output "version format" '^cashstory [0-9]+\.[0-9]+\.[0-9]+$'
run 0 "top-level help" cs --help
expect_output "help lists commands" 'key generate.*'
for cmd in "key generate" "key id" pack verify install list remove; do
    # shellcheck disable=SC2086
    run 0 "$cmd --help" cs $cmd --help
    expect_output "$cmd help lists --store" '--store DIR'
done
run 0 "pack help gives limits" cs pack --help
expect_output "pack help names the size limit" '1 GiB per file'
run 2 "no command" cs
run 2 "unknown command" cs frobnicate
expect_output "unknown command named" "unknown command 'frobnicate'"
run 2 "unknown option" cs verify --frob x.csa
expect_output "unknown option named" "unknown option '--frob'"
run 2 "missing argument" cs verify
run 2 "missing option value" cs pack app --key
run 2 "pack without key" cs pack app --out x.csa

# Keys.
run 0 "key generate" cs key generate --out pub
[ "$(stat -c %a pub.key)" = 600 ] && pass "private key mode 0600" || fail "private key mode 0600"
run 0 "openssl reads the private key" openssl pkey -in pub.key -noout
run 0 "openssl reads the public key" openssl pkey -pubin -in pub.pub -noout
expected_id=$(openssl pkey -pubin -in pub.pub -outform DER | sha256sum | cut -d' ' -f1)
run 0 "key id of public key" cs key id pub.pub
[ "$out" = "$expected_id" ] && pass "key id is SHA-256 of DER public key" ||
    fail "key id is SHA-256 of DER public key ($out != $expected_id)"
run 0 "key id of private key" cs key id pub.key
[ "$out" = "$expected_id" ] && pass "private key gives same id" || fail "private key gives same id"
run 1 "key generate refuses to overwrite" cs key generate --out pub
expect_output "overwrite message" 'already exists'
run 1 "key id of a missing file" cs key id missing.pub
expect_output "missing key file named" 'missing.pub'
echo "not a key" >junk.pub
run 1 "key id of junk" cs key id junk.pub
openssl genpkey -algorithm ED25519 -out enc.key -aes-256-cbc -pass pass:secret 2>/dev/null
run 1 "encrypted key rejected without prompt" cs pack "$CS_SOURCE_DIR/examples/hello" --key enc.key --out e.csa </dev/null
expect_output "encrypted key message" 'unencrypted PEM private key'
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.key 2>/dev/null
run 1 "non-Ed25519 key without --cert" cs pack "$CS_SOURCE_DIR/examples/hello" --key ec.key --out e.csa
expect_output "non-Ed25519 message" 'not an Ed25519 key'

# Pack is reproducible.
copy_example app
run 0 "pack" cs pack app --key pub.key --out a.csa
run 0 "pack again" cs pack app --key pub.key --out b.csa
cmp -s a.csa b.csa && pass "pack output is reproducible" || fail "pack output is reproducible"
run 0 "tar lists the package" tar tf a.csa
expect_output "index listed first" '^\.cashstory/index\.json'
[ "$(tar tf a.csa | head -3 | tr '\n' ' ')" = ".cashstory/index.json .cashstory/index.sig .cashstory/signer.pub " ] &&
    pass "metadata comes first" || fail "metadata comes first"
touch -d '2030-01-01' app/main.js
SOURCE_DATE_EPOCH= run 0 "pack without SOURCE_DATE_EPOCH" cs pack app --key pub.key --out c.csa
tar -xOf c.csa .cashstory/index.json | grep -q '"created": "2030-01-01' &&
    pass "creation time is newest mtime" || fail "creation time is newest mtime"
run 1 "pack a missing folder" cs pack nowhere --key pub.key --out x.csa
run 1 "pack to a missing folder" cs pack app --key pub.key --out no/such/dir/x.csa
[ ! -e x.csa ] && pass "no output after failure" || fail "no output after failure"
ls no 2>/dev/null | grep -q tmp && fail "temporary file left" || pass "no temporary file left"

# Pack rejects what a package cannot hold.
copy_example bad
ln -s /etc/passwd bad/link
run 1 "pack rejects symlinks" cs pack bad --key pub.key --out bad.csa
expect_output "symlink named" 'bad/link is a symbolic link'
rm bad/link
mkfifo bad/fifo
run 1 "pack rejects FIFOs" cs pack bad --key pub.key --out bad.csa
rm bad/fifo
cp app/main.js bad/tool && chmod 4755 bad/tool
run 1 "pack rejects setuid files" cs pack bad --key pub.key --out bad.csa
expect_output "setuid named" 'bad/tool has the setuid'
rm bad/tool
mkdir bad/.cashstory
run 1 "pack rejects reserved folder" cs pack bad --key pub.key --out bad.csa
expect_output "reserved folder named" 'reserved'
rmdir bad/.cashstory
sed -i 's/"main.js"/"missing.js"/' bad/cashstory.json
run 1 "pack rejects missing main" cs pack bad --key pub.key --out bad.csa
expect_output "missing main named" "field 'main' names 'missing.js'"
echo '{"id": "com.example.x", "name": "X", "version": "1.0", "main": "main.js"}' >bad/cashstory.json
run 1 "pack rejects invalid version" cs pack bad --key pub.key --out bad.csa
expect_output "invalid version named" "field 'version': '1.0' is not a semantic version"
rm bad/cashstory.json
run 1 "pack needs a manifest" cs pack bad --key pub.key --out bad.csa
expect_output "missing manifest named" 'cashstory.json'
[ ! -e bad.csa ] && pass "no package after pack failures" || fail "no package after pack failures"

# Verify.
run 3 "verify untrusted" cs verify a.csa
expect_output "untrusted key id named" "NOT trusted: key $expected_id"
run 0 "verify with --trusted-key" cs verify a.csa --trusted-key pub.pub
expect_output "verify names the app" 'com\.example\.hello 1\.0\.0'
expect_output "verify names the signer" "Ed25519 key $expected_id"
run 0 "verify --json" cs verify a.csa --trusted-key pub.pub --json
python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["ok"] and d["signer"]["trusted"] and d["app"]["id"]=="com.example.hello" and d["problems"]==[]' <<<"$out" &&
    pass "json result" || fail "json result"
printf '{"publishers": [{"name": "Example", "key_id": "%s"}]}\n' "$expected_id" >trust.json
run 0 "verify with --trust" cs verify a.csa --trust trust.json
expect_output "publisher name shown" 'trusted \(Example\)'
CASHSTORY_TRUST=$PWD/trust.json run 0 "verify with CASHSTORY_TRUST" cs verify a.csa
run 1 "verify with a missing trust file" cs verify a.csa --trust nothere.json
expect_output "missing trust file named" 'nothere.json'
mkdir unpacked && tar -xf a.csa -C unpacked
run 0 "verify an unpacked folder" cs verify unpacked --trusted-key pub.pub
run 1 "verify a missing file" cs verify missing.csa

# Install, list, remove.
run 0 "list empty store" cs list
expect_output "empty store message" 'no apps installed'
run 3 "install untrusted" cs install a.csa
run 0 "list still empty" cs list --json
[ "$out" = "[]" ] && pass "failed install changes nothing" || fail "failed install changes nothing"
run 0 "install" cs install a.csa --trusted-key pub.pub
expect_output "install names the app" 'installed com\.example\.hello 1\.0\.0'
run 0 "list" cs list
expect_output "list shows the app" '^com\.example\.hello +1\.0\.0'
run 0 "list --json" cs list --json
python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[0]["origin"].startswith("file:///") and d[0]["origin"].endswith("/a.csa")' <<<"$out" &&
    pass "origin recorded as file URL" || fail "origin recorded as file URL"
current=$(readlink -f "$CASHSTORY_STORE/apps/com.example.hello/current")
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["protocol"]=="file" and len(d["index_sha256"])==64' \
    "$current/.cashstory/origin.json" && pass "origin.json records protocol" || fail "origin.json records protocol"
[ -z "$(find "$current" -perm /222)" ] && pass "installed files are read-only" ||
    fail "installed files are read-only"
run 0 "verify --installed" cs verify --installed com.example.hello --trusted-key pub.pub
run 1 "verify --installed unknown app" cs verify --installed com.example.nothing
expect_output "unknown app named" "app 'com.example.nothing' is not installed"
run 1 "verify --installed invalid id" cs verify --installed ../../etc
run 0 "install with --store" cs install a.csa --store other --trusted-key pub.pub
[ -L other/apps/com.example.hello/current ] && pass "--store is used" || fail "--store is used"

# A second install keeps the previous version for rollback.
sed -i 's/"version": "1.0.0"/"version": "1.1.0"/' app/cashstory.json
run 0 "pack 1.1.0" cs pack app --key pub.key --out v11.csa
run 0 "install 1.1.0" cs install v11.csa --trusted-key pub.pub
run 0 "list after upgrade" cs list
expect_output "list shows the new version" 'com\.example\.hello +1\.1\.0'
prev=$(readlink "$CASHSTORY_STORE/apps/com.example.hello/previous")
[ "$prev" = "$(basename "$current")" ] && pass "previous version kept" || fail "previous version kept"
run 0 "verify --installed after upgrade" cs verify --installed com.example.hello --trusted-key pub.pub
expect_output "new version verified" '1\.1\.0'
run 0 "install 1.1.0 again" cs install v11.csa --trusted-key pub.pub
[ "$(ls "$CASHSTORY_STORE/apps/com.example.hello" | wc -l)" -eq 4 ] &&
    pass "only current and previous versions kept" || fail "only current and previous versions kept"

run 0 "remove" cs remove com.example.hello
run 0 "list after remove" cs list --json
[ "$out" = "[]" ] && pass "app removed" || fail "app removed"
[ -z "$(ls "$CASHSTORY_STORE/tmp")" ] && pass "no leftovers in tmp" || fail "no leftovers in tmp"
run 1 "remove unknown app" cs remove com.example.hello
expect_output "remove names the app" "app 'com.example.hello' is not installed"
run 1 "remove invalid id" cs remove ../x

finish
