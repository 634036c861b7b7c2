# End-to-end tests of 'cashstory run' with the JavaScript app host: apps run
# verified and sandboxed, and every escape from JavaScript fails.
source "$(dirname "$0")/lib.sh"

cs() { "$CASHSTORY" "$@"; }

cs key generate --out pub >/dev/null
mkdir -p shared
echo "shared text" >shared/readme.txt

# An app that tries, from JavaScript, what the sandbox must stop. Each line of
# its output is "PASS label: detail" or "FAIL label: detail".
mkdir -p escape/lib
cat >escape/cashstory.json <<JSON
{
  "id": "com.example.escape",
  "name": "Escape",
  "version": "1.0.0",
  "main": "main.js",
  "permissions": {
    "fs": [ { "path": "$CS_TMP/shared", "access": "read-write" } ]
  }
}
JSON
cat >escape/lib/check.js <<'JS'
async function denied(label, operation) {
    try {
        await operation();
        console.log(`FAIL ${label}: allowed`);
    } catch (error) {
        console.log(`PASS ${label}: ${error.code || error.name}: ${error.message}`);
    }
}

async function allowed(label, operation) {
    try {
        const value = await operation();
        console.log(`PASS ${label}: ${value}`);
    } catch (error) {
        console.log(`FAIL ${label}: ${error.code || error.name}: ${error.message}`);
    }
}

module.exports = { denied, allowed };
JS
cat >escape/main.js <<'JS'
const { denied, allowed } = require('./lib/check');
const fs = cashstory.fs;
const [mode, shared, other] = process.argv.slice(2);

(async () => {
    if (mode === 'argv') {
        console.log('argv', JSON.stringify(process.argv.slice(3)));
        return;
    }
    if (mode === 'write-secret') {
        await fs.writeFile('secret.txt', 'app secret');
        await new Promise((resolve) => setTimeout(resolve, 1500));
        console.log('PASS secret still private:', await fs.readFile('secret.txt', 'utf8'));
        return;
    }
    if (mode === 'read-other') {
        await denied('other app data on the host', () => fs.readFile(`${other}/secret.txt`, 'utf8'));
        await denied('other app secret in own data', () => fs.readFile('secret.txt', 'utf8'));
        return;
    }
    await denied('read /etc/shadow', () => fs.readFile('/etc/shadow'));
    await denied('read /etc/passwd', () => fs.readFile('/etc/passwd', 'utf8'));
    await denied('list /', () => fs.readdir('/'));
    await denied('write /tmp', () => fs.writeFile('/tmp/x', 'x'));
    await denied('dot-dot out of data', () => fs.readFile('../../etc/passwd'));
    await denied('write to read-only grant', () => fs.writeFile(`${shared}/new.txt`, 'x'));
    await denied('require outside the app', async () => require('../../etc/passwd'));
    await denied('require fs', async () => require('fs'));
    await denied('require child_process', async () => require('child_process'));
    await allowed('write data', async () => {
        await fs.writeFile('note.txt', 'kept');
        return fs.readFile('note.txt', 'utf8');
    });
    await allowed('read granted path', () => fs.readFile(`${shared}/readme.txt`, 'utf8'));
    await allowed('app identity', async () => `${cashstory.app.id} verified=${cashstory.app.verified}`);
    await allowed('no host environment', async () => JSON.stringify(process.env));
})();
JS

cs pack escape --key pub.key --out escape.csa >/dev/null
run 0 "install escape app" cs install escape.csa --trusted-key pub.pub
printf '{"apps": {"com.example.escape": {"fs": [{"path": "%s/shared", "access": "read"}]}}}\n' \
    "$CS_TMP" >policy.json

run 0 "escape app runs" cs run com.example.escape --trusted-key pub.pub --policy policy.json \
    --verbose -- all "$CS_TMP/shared"
for label in "read /etc/shadow" "read /etc/passwd" "list /" "write /tmp" "dot-dot out of data" \
    "write to read-only grant" "require outside the app" "require fs" "require child_process"; do
    expect_output "JS: $label refused" "^PASS $label: "
done
expect_output "JS: denial names the path" "PASS read /etc/shadow: EACCES: .*/etc/shadow"
expect_output "JS: data folder writable" '^PASS write data: kept$'
expect_output "JS: granted path readable" '^PASS read granted path: shared text$'
expect_output "JS: identity verified" '^PASS app identity: com.example.escape verified=true$'
expect_output "JS: no host environment" '^PASS no host environment: \{\}$'
expect_output "policy decision logged" "granted fs read '$CS_TMP/shared' .read-write requested. for com.example.escape by policy policy.json"
if printf '%s\n' "$out" | grep -q '^FAIL'; then
    fail "JS: no escape succeeded"
else
    pass "JS: no escape succeeded"
fi

# Without the policy, the requested path is neither mounted nor allowed.
run 0 "escape app without policy" cs run com.example.escape --trusted-key pub.pub -- all "$CS_TMP/shared"
expect_output "ungranted path refused" '^FAIL read granted path: EACCES'

# Arguments after -- reach the app.
run 0 "argv passed" cs run com.example.escape --trusted-key pub.pub -- argv "a b" c
expect_output "argv content" '^argv \["a b","c"\]$'

# The bundled examples run sandboxed.
cs pack "$CS_SOURCE_DIR/examples/hello" --key pub.key --out hello.csa >/dev/null
cs install hello.csa --trusted-key pub.pub >/dev/null
run 0 "hello example runs" cs run com.example.hello --trusted-key pub.pub
expect_output "hello output" '^Hello from com\.example\.hello, verified before it loaded\.$'
cs pack "$CS_SOURCE_DIR/examples/modules" --key pub.key --out modules.csa >/dev/null
cs install modules.csa --trusted-key pub.pub >/dev/null
run 0 "modules example runs" cs run com.example.modules --trusted-key pub.pub
run 0 "package runs without install" cs run hello.csa --trusted-key pub.pub --store "$CS_TMP/other-store"
expect_output "package output" '^Hello from com\.example\.hello'

# Two apps at once: one keeps a secret in its data folder while the other
# tries to read it.
sed -i 's/"com.example.escape"/"com.example.reader"/' escape/cashstory.json
cs pack escape --key pub.key --out reader.csa >/dev/null
cs install reader.csa --trusted-key pub.pub >/dev/null
cs run com.example.escape --trusted-key pub.pub -- write-secret >writer.out 2>&1 &
writer=$!
sleep 0.5
run 0 "second app runs alongside" cs run com.example.reader --trusted-key pub.pub -- read-other \
    "" "$CASHSTORY_STORE/data/com.example.escape"
expect_output "other app's data refused" '^PASS other app data on the host: EACCES'
expect_output "own data has no secret" '^PASS other app secret in own data: ENOENT'
wait "$writer" && pass "writer app finished" || fail "writer app finished"
grep -q '^PASS secret still private: app secret$' writer.out && pass "writer kept its secret" ||
    fail "writer kept its secret"

# A module changed in the store after install: the app never starts.
current=$(readlink -f "$CASHSTORY_STORE/apps/com.example.escape/current")
chmod u+w "$current/lib/check.js"
echo 'console.log("FAIL tampered code ran");' >>"$current/lib/check.js"
run 3 "tampered app refused" cs run com.example.escape --trusted-key pub.pub -- all "$CS_TMP/shared"
expect_output "tampered file named" "file 'lib/check.js' (has SHA-256|is [0-9]+ bytes)"
if printf '%s\n' "$out" | grep -q 'tampered code ran'; then
    fail "tampered code never ran"
else
    pass "tampered code never ran"
fi

finish
