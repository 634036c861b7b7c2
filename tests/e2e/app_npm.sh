# cashstory-app with real npm packages: installs marked and dayjs from the
# npm registry, signs and installs an app that uses them, and checks that the
# app host prints exactly what Node prints for the same script. Needs npm,
# node and access to the configured npm registry; without them it fails.
source "$(dirname "$0")/lib.sh"

APP_HOST=${CASHSTORY_APP:-$(dirname "$CASHSTORY")/src/app/cashstory-app}
if [ ! -x "$APP_HOST" ]; then
    fail "cashstory-app not found at $APP_HOST; build it or set CASHSTORY_APP"
    finish
fi
for tool in npm node; do
    if ! command -v "$tool" >/dev/null; then
        fail "$tool is not installed; this test needs npm and node"
        finish
    fi
done

# See tests/e2e/app_host.sh and src/app/lsan.supp.
export LSAN_OPTIONS="suppressions=$CS_SOURCE_DIR/src/app/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export TZ=UTC

# Versions that ship a CommonJS entry point: marked resolves through its
# package.json "exports", dayjs through "main" and plain subpaths.
PACKAGES="marked@4.3.0 dayjs@1.11.10"

# One retry and a time limit, so that an unreachable registry fails the test
# within about a minute instead of hanging it.
if timeout 90 npm install --no-audit --no-fund --fetch-retries=1 --fetch-timeout=30000 \
    --prefix "$CS_TMP/npmpkg" $PACKAGES >"$CS_TMP/npm.log" 2>&1; then
    pass "npm install $PACKAGES"
else
    fail "npm install $PACKAGES failed; this test needs the npm registry $(npm config get registry 2>/dev/null)"
    sed 's/^/    /' "$CS_TMP/npm.log"
    finish
fi

mkdir app
cp -r "$CS_TMP/npmpkg/node_modules" app/
# npm's bookkeeping and its links to command-line tools are not part of the
# app, and a package cannot contain links.
rm -rf app/node_modules/.package-lock.json app/node_modules/.bin
cat >app/cashstory.json <<'EOF'
{ "id": "com.example.npm", "name": "npm packages", "version": "1.0.0", "main": "main.js" }
EOF
cat >app/main.js <<'EOF'
const { marked } = require('marked');
const dayjs = require('dayjs');
const utc = require('dayjs/plugin/utc');
const customParseFormat = require('dayjs/plugin/customParseFormat');

dayjs.extend(utc);
dayjs.extend(customParseFormat);

const markdown = [
    '# Release notes',
    '',
    'Some *emphasis*, **strong text**, a [link](https://example.com/a?b=1&c=2) and `code`.',
    '',
    '- one',
    '- two with <b>html</b>',
    '',
    '| a | b |',
    '|---|---|',
    '| 1 | 2 |',
    '',
    '```js',
    'const x = 1 < 2;',
    '```',
].join('\n');

console.log(marked.parse(markdown));
console.log(JSON.stringify(marked.lexer('**bold** and _em_')[0].tokens.map((token) => token.type)));
console.log(dayjs.utc('2024-02-29T12:34:56Z').add(1, 'year').format('YYYY-MM-DD HH:mm:ss dddd'));
console.log(dayjs.utc('2024-03-01').diff(dayjs.utc('2023-03-01'), 'day'));
console.log(dayjs('31/12/2023 23:59', 'DD/MM/YYYY HH:mm').add(1, 'minute').format('YYYY-MM-DD HH:mm'));
console.log(dayjs.utc('2024-01-15').startOf('month').toISOString());
console.log(typeof require('marked/package.json').version);
EOF

cashstory key generate --out publisher >/dev/null
run 0 "pack the app with its node_modules" cashstory pack app --key publisher.key --out npm.csa
run 0 "install the app" cashstory install npm.csa --trusted-key publisher.pub
installed="$CASHSTORY_STORE/apps/com.example.npm/current"
index_sha256=$(sha256sum "$installed/.cashstory/index.json" | cut -d' ' -f1)

# Node must not pick up settings of the machine it runs on.
expected=$(cd app && env -u NODE_EXTRA_CA_CERTS -u NODE_OPTIONS -u NODE_PATH node main.js 2>&1)
node_status=$?
if [ "$node_status" -eq 0 ] && [ -n "$expected" ]; then
    pass "node runs the script"
else
    fail "node runs the script (exit status $node_status)"
    printf '%s\n' "$expected" | sed 's/^/    /'
fi

run 0 "cashstory-app runs the signed app" timeout 60 "$APP_HOST" --app "$installed" \
    --index-sha256 "$index_sha256"
if [ "$out" = "$expected" ]; then
    pass "cashstory-app prints what node prints"
else
    fail "cashstory-app prints what node prints"
    diff <(printf '%s\n' "$expected") <(printf '%s\n' "$out") | sed 's/^/    /'
fi
expect_output "marked rendered the table" "^<td>2</td>$"
expect_output "dayjs computed the date" "^2025-02-28 12:34:56 Friday$"

finish
