# cashstory-app, the JavaScript app host: signs and installs
# examples/modules with the cashstory binary, then runs one scenario of it
# per check (scenarios/NAME.js), and checks tampering, unsigned files and the
# command line.
source "$(dirname "$0")/lib.sh"

# CMake builds the host next to the cashstory binary, in src/app/.
APP_HOST=${CASHSTORY_APP:-$(dirname "$CASHSTORY")/src/app/cashstory-app}
if [ ! -x "$APP_HOST" ]; then
    fail "cashstory-app not found at $APP_HOST; build it or set CASHSTORY_APP"
    finish
fi

# In a -DCS_SANITIZE=ON build, src/app/lsan.supp hides allocations that
# JavaScriptCore makes and keeps in its own heap; its function names are only
# visible with the slow unwinder. Both settings are ignored by other builds.
export LSAN_OPTIONS="suppressions=$CS_SOURCE_DIR/src/app/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
# Dates in the output do not depend on the machine's time zone.
export TZ=UTC

app_host() {
    timeout 60 "$APP_HOST" "$@"
}



# expect_clean NAME: fail when the last output has a sanitizer or crash report.
expect_clean() {
    if printf '%s\n' "$out" | grep -Eq 'Sanitizer|runtime error:|Segmentation fault|core dumped'; then
        fail "$1: sanitizer or crash report in the output"
        printf '%s\n' "$out" | sed 's/^/    /'
    fi
}

# run_app STATUS NAME [ARGS...]: run the installed example with the data
# folder and grants of these tests; ARGS go after "--".
run_app() {
    local status=$1 name=$2
    shift 2
    run "$status" "$name" app_host --app "$APP" --index-sha256 "$INDEX_SHA256" --data "$DATA" \
        --grant "$READ_ONLY:ro" --grant "$WRITABLE:rw" -- "$@"
    expect_clean "$name"
}

# ---- Pack and install the example -------------------------------------------

cashstory key generate --out publisher >/dev/null
run 0 "pack examples/modules" cashstory pack "$CS_SOURCE_DIR/examples/modules" --key publisher.key \
    --out modules.csa
run 0 "install examples/modules" cashstory install modules.csa --trusted-key publisher.pub
APP="$CASHSTORY_STORE/apps/com.example.modules/current"
INDEX_SHA256=$(sha256sum "$APP/.cashstory/index.json" | cut -d' ' -f1)
KEY_ID=$(cashstory key id publisher.pub)

DATA="$CS_TMP/data"
READ_ONLY="$CS_TMP/read-only"
WRITABLE="$CS_TMP/writable"
mkdir -p "$DATA" "$READ_ONLY" "$WRITABLE"
echo "read-only input" >"$READ_ONLY/input.txt"

# ---- Modules ------------------------------------------------------------------

run_app 0 "default scenario runs"
expect_line "default scenario: greeting from three modules" "Hello, Modules!"

run_app 0 "modules scenario runs" modules
expect_line "require: relative path without extension" "Hello, Modules!"
expect_line "require: JSON file" "json: Modules example"
expect_line "require: folder with index.js" "folder: widgets /app/lib/widgets/index.js"
expect_line "require: node_modules package main and subpath" "package: some-local-package 42 4"
expect_line "require: package.json exports" \
    'exports: exported-package through "exports" | exported-package/feature'
expect_line "require: cycle returns partial exports" \
    "cycle: b.done is true | a.done is false | true true"
expect_line "require: module cache" "same module: true"
expect_line "__filename and __dirname" "filename: /app/scenarios/modules.js /app/scenarios"
expect_line "require.resolve" "resolve: /app/node_modules/some-local-package/src/main.js"
expect_line "require.main is main.js" "main: false /app/scenarios/modules.js"
expect_line "require.cache" "cache: true"
expect_line "require('fs') names cashstory.fs" \
    "builtin: MODULE_NOT_FOUND: module 'fs' is not available; use cashstory.fs"
expect_output "require('node:path') is not available" \
    "^builtin prefix: MODULE_NOT_FOUND: module 'node:path' is not available"
expect_output "require of ../.. is rejected" \
    "^escape: ERR_ACCESS_DENIED: Cannot require '../../outside.js' .*leaves the app folder"
expect_output "require of an absolute path is rejected" \
    "^absolute: ERR_ACCESS_DENIED: Cannot require '/etc/passwd'"
expect_output "require of a missing module" \
    "^missing: MODULE_NOT_FOUND: Cannot find module './no-such-module' from /app/scenarios/modules.js"
expect_output "require of a path the package does not export" \
    "^not exported: ERR_PACKAGE_PATH_NOT_EXPORTED: .*does not export './cjs/private.js'"

# ---- Timers, promises, encodings, console --------------------------------------

run_app 0 "timers scenario runs" timers
expect_line "timers fire by due time, cleared ones never" \
    "timeout 0, interval 1, interval 2, interval 3, timeout 100 with x y, timeout 150, nested 0, timeout 200"

run_app 0 "promises scenario runs" promises
expect_line "microtasks run after sync code and between timers" \
    "async start, sync end, then 1, queueMicrotask, nextTick, after await, then 2, timer 1, microtask of timer 1, timer 2"

run_app 0 "encoding scenario runs" encoding
expect_line "TextEncoder: UTF-8 bytes" "encode: 104 195 169 226 130 172 240 157 132 158"
expect_line "TextDecoder: round trip" "decode: hé€𝄞"
expect_line "TextDecoder: typed array view with an offset" "subarray: é"
expect_line "TextEncoder: lone surrogate" "lone surrogate: 239 191 189"
expect_line "TextDecoder: BOM removed, invalid byte replaced" 'bom and invalid: "A�B"'
expect_line "TextDecoder: fatal mode throws" "fatal: TypeError"
expect_line "TextDecoder: streaming joins a split character" "stream: €"
expect_line "TextEncoder.encodeInto stops at a whole character" \
    'encodeInto: {"read":2,"written":4} 97 226 130 172'
expect_line "structuredClone keeps cycles, Map and Date" \
    "clone: true true one 1970-01-01T00:00:00.000Z"
expect_line "structuredClone rejects functions" "clone function: DataCloneError"
expect_line "console.log formats objects as Node does" \
    "{ a: 1, b: 'text', c: [ 1, 2 ], d: { e: { f: [Object] } } }"
expect_line "console.log format specifiers" "Ada is 36 years old extra"
expect_line "console.log formats Map, Set and primitives" \
    "Map(1) { 'k' => 'v' } Set(1) { 1 } null undefined -0 10n"

stdout=$(app_host --app "$APP" --index-sha256 "$INDEX_SHA256" -- encoding 2>/dev/null)
stderr=$(app_host --app "$APP" --index-sha256 "$INDEX_SHA256" -- encoding 2>&1 >/dev/null)
if [[ "$stderr" == *"this line goes to stderr"* && "$stdout" != *"this line goes to stderr"* &&
    "$stdout" == *"decode: "* ]]; then
    pass "console.error writes to stderr, console.log to stdout"
else
    fail "console.error writes to stderr, console.log to stdout"
fi

# ---- cashstory.fs ---------------------------------------------------------------

ln -s /etc "$DATA/link-to-etc"
ln -s /etc/passwd "$DATA/link-to-passwd"
run_app 0 "fs scenario runs" fs "$DATA" "$READ_ONLY" "$WRITABLE"
expect_line "fs: mkdir recursive, writeFile, readFile as text" "read: hello data"
expect_line "fs: writeFile and readFile bytes" "bytes: 1,2,3"
expect_line "fs: readdir" "readdir: 2024,b.bin"
expect_line "fs: stat" "stat: 10 true false"
expect_line "fs: absolute path in the data folder" "absolute: hello data"
expect_line "fs: rm of a folder needs recursive" \
    "rm folder without recursive: EISDIR: cashstory.fs.rm: $DATA/notes is a folder; pass {recursive: true} to remove it and its content"
expect_line "fs: rm recursive, then mkdir" "after rm: kept,link-to-etc,link-to-passwd"
expect_line "fs: read in a read-only grant" "read-only grant: read-only input"
expect_line "fs: write in a read-write grant" "read-write grant: written through a grant"
expect_line "fs: a path outside is denied, with the path" \
    "outside: EACCES: cashstory.fs.readFile: permission denied for /etc/hostname: not inside the app data folder or a granted path"
expect_line "fs: a write to a read-only grant is denied" \
    "write to read-only grant: EACCES: cashstory.fs.writeFile: permission denied for $READ_ONLY/new.txt: the granted path $READ_ONLY is read-only"
expect_line "fs: a '..' escape is denied" \
    "dot-dot escape: EACCES: cashstory.fs.readFile: permission denied for ../../../../../../etc/passwd (/etc/passwd): not inside the app data folder or a granted path"
expect_line "fs: a link to a folder outside is denied" \
    "symlink folder escape: EACCES: cashstory.fs.readFile: permission denied for $DATA/link-to-etc/passwd: the path goes through a symbolic link, which cashstory.fs does not follow"
expect_line "fs: a link to a file outside is denied" \
    "symlink file escape: EACCES: cashstory.fs.readFile: permission denied for $DATA/link-to-passwd: the path goes through a symbolic link, which cashstory.fs does not follow"
expect_line "fs: a missing file is ENOENT" \
    "missing file: ENOENT: cashstory.fs.readFile: $DATA/no-such-file: No such file or directory"
expect_line "fs: the data folder itself cannot be removed" \
    "remove data folder: EPERM: cashstory.fs.rm: $DATA is the data folder or a granted folder, which cannot be removed"
if [ -d "$DATA/kept" ] && [ ! -e "$DATA/notes" ] && [ ! -e "$READ_ONLY/new.txt" ] &&
    [ "$(cat "$WRITABLE/output.txt")" = "written through a grant" ] &&
    [ "$(stat -c %a "$WRITABLE/output.txt")" = 600 ]; then
    pass "fs: the files on disk match what the app did"
else
    fail "fs: the files on disk match what the app did"
    ls -laR "$DATA" "$READ_ONLY" "$WRITABLE" | sed 's/^/    /'
fi

# Denied requests must fail before any system call names their path.
if command -v strace >/dev/null && strace -f -o /dev/null true 2>/dev/null; then
    rm -rf "$DATA/kept" "$WRITABLE/output.txt"
    # LeakSanitizer cannot stop the threads of a traced process.
    ASAN_OPTIONS=detect_leaks=0 strace -f -e trace=%file -o "$CS_TMP/fs.trace" "$APP_HOST" --app "$APP" \
        --index-sha256 "$INDEX_SHA256" --data "$DATA" --grant "$READ_ONLY:ro" \
        --grant "$WRITABLE:rw" -- fs "$DATA" "$READ_ONLY" "$WRITABLE" >/dev/null 2>&1
    if grep -Eq '"/etc/hostname"|"/etc/passwd"|new\.txt' "$CS_TMP/fs.trace"; then
        fail "fs: denied paths never reach a system call"
        grep -E 'hostname|passwd|new\.txt' "$CS_TMP/fs.trace" | sed 's/^/    /'
    else
        pass "fs: denied paths never reach a system call"
    fi
else
    echo "ok - fs: denied paths never reach a system call # SKIP strace is not available"
fi

# ---- The app's identity -----------------------------------------------------------

rm -rf "$DATA"/*
run_app 0 "info scenario runs" info
expect_line "cashstory.app" \
    "app: {\"id\":\"com.example.modules\",\"version\":\"1.0.0\",\"name\":\"Modules\",\"publisher\":{\"type\":\"ed25519\",\"keyId\":\"$KEY_ID\"},\"origin\":{\"url\":\"file://$CS_TMP/modules.csa\",\"protocol\":\"file\"},\"verified\":true}"
expect_line "cashstory.signatures.indexSha256" "indexSha256: $INDEX_SHA256"
expect_line "cashstory.signatures.signer" "signer: {\"type\":\"ed25519\",\"keyId\":\"$KEY_ID\"}"
expect_line "cashstory.signatures.signer.publicKey" "public key: present"
first_file=$(python3 -c '
import json, sys
files = json.load(open(sys.argv[1]))["files"]
entry = {key: files[0][key] for key in ("path", "size", "sha256", "mode")}
print(len(files), json.dumps(entry, separators=(",", ":")))
' "$APP/.cashstory/index.json")
expect_line "cashstory.signatures.files matches the index" "files: $first_file"
expect_line "cashstory.app and the file entries are frozen" "frozen: true true"
if cmp -s "$DATA/index-copy.json" "$APP/.cashstory/index.json"; then
    pass "cashstory.signatures.index is the exact index.json text"
else
    fail "cashstory.signatures.index is the exact index.json text"
fi
if base64 -d "$DATA/signature.b64" 2>/dev/null | cmp -s - "$APP/.cashstory/index.sig"; then
    pass "cashstory.signatures.signature is index.sig in base64"
else
    fail "cashstory.signatures.signature is index.sig in base64"
fi

# ---- Process, exit statuses and errors ----------------------------------------------

export SECRET_TOKEN=do-not-leak
run_app 0 "process scenario runs" process one "two words"
unset SECRET_TOKEN
expect_line "process.argv" 'argv: ["cashstory-app","/app/main.js","process","one","two words"]'
expect_line "process.env is empty" "env: {}"
expect_absent "the host environment does not reach the app" "do-not-leak"
expect_line "CommonJS globals" "globals: function object object object"

run_app 42 "cashstory.exit(42) gives exit status 42" exit 42
expect_line "exit: code before exit() runs" "exiting with 42"
expect_absent "exit: code after exit() never runs" "not reached"
run_app 7 "process.exitCode is the status when the loop runs dry" exit-code
expect_line "exit-code: the loop ran to its end" "loop ran dry"

run_app 1 "uncaught exception exits with status 1" throw
expect_line "uncaught exception: output before it" "before the exception"
expect_line "uncaught exception: message" "cashstory-app: uncaught exception: Error: boom from lib/boom.js"
expect_line "uncaught exception: stack names the package path and line" \
    "    at explode (/app/lib/boom.js:3:20)"
expect_line "uncaught exception: stack names the caller" "    at /app/scenarios/throw.js:4:8"

run_app 1 "exception in a timer exits with status 1" throw-timer
expect_line "exception in a timer: message and frame" \
    "cashstory-app: uncaught exception: TypeError: thrown in a timer"
expect_line "exception in a timer: stack" "    at tick (/app/scenarios/throw-timer.js:3:24)"

run_app 1 "unhandled rejection exits with status 1" reject
expect_line "unhandled rejection: message" \
    "cashstory-app: unhandled promise rejection: Error: nobody handles this rejection"
expect_output "unhandled rejection: stack names the package path and line" \
    "^    at /app/scenarios/reject\.js:3:[0-9]+$"
expect_absent "unhandled rejection: the loop stops" "not reached"

rm -f "$CS_TMP/app.log"
run 0 "--log runs the app" app_host --app "$APP" --index-sha256 "$INDEX_SHA256" \
    --log "$CS_TMP/app.log" -- encoding
run 0 "--log writes JSON lines with time, level and message" python3 -c '
import json, re, sys
lines = [json.loads(line) for line in open(sys.argv[1])]
assert all(list(line) == ["time", "level", "message"] for line in lines), lines
assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", l["time"]) for l in lines)
assert {"level": "log", "message": "decode: hé€𝄞"}.items() <= lines[1].items(), lines[1]
assert any(l["level"] == "error" and l["message"] == "this line goes to stderr" for l in lines)
' "$CS_TMP/app.log"

# ---- Command line -----------------------------------------------------------------------

run 2 "usage: --app is required" app_host --index-sha256 "$INDEX_SHA256"
expect_output "usage: the message names --app" "--app DIR is required"
run 2 "usage: --index-sha256 or --dev is required" app_host --app "$APP"
run 2 "usage: --index-sha256 must be hex" app_host --app "$APP" --index-sha256 xyz
run 2 "usage: unknown option" app_host --app "$APP" --dev --bogus
run 2 "usage: invalid --grant access" app_host --app "$APP" --dev --grant /tmp:rwx
run 0 "--help" app_host --help
expect_output "--help describes --grant" "--grant PATH:ro\|rw"

wrong=$(printf '%s' "$INDEX_SHA256" | tr '0-9a-f' '1-9a-f0')
run 1 "a wrong --index-sha256 is rejected" app_host --app "$APP" --index-sha256 "$wrong"
expect_output "wrong digest: the error names the index" \
    "\.cashstory/index\.json failed verification: its SHA-256 is $INDEX_SHA256 but --index-sha256 is $wrong"
expect_absent "wrong digest: no app code runs" "Hello"

# ---- Unsigned and changed files ------------------------------------------------------------

run_app 0 "a module missing from the package is not found" extra
expect_line "missing module: MODULE_NOT_FOUND" "lib/extra.js: MODULE_NOT_FOUND"

chmod u+w "$APP/lib"
echo "console.log('UNSIGNED CODE RAN');" >"$APP/lib/extra.js"
run_app 1 "a file added after install is refused" extra
expect_line "added file: the error names it" \
    "cashstory-app: lib/extra.js failed verification: the file is not listed in the signed package index"
expect_absent "added file: its code never runs" "UNSIGNED CODE RAN"
rm "$APP/lib/extra.js"

# Same size, one letter changed: only the SHA-256 can tell.
lazy_size=$(stat -c %s "$APP/lib/lazy.js")
main_size=$(stat -c %s "$APP/main.js")
cp "$APP/lib/lazy.js" "$CS_TMP/lazy.js.orig"
chmod u+w "$APP/lib/lazy.js"
sed -i 's/lib\/lazy.js ran/lib\/lazy.js RAN/' "$APP/lib/lazy.js"
run_app 1 "a changed module stops the app" lazy
expect_line "changed module: code before the require ran" "before lib/lazy.js"
expect_line "changed module: the error names the file" \
    "cashstory-app: lib/lazy.js failed verification: its SHA-256 differs from the signed package index"
expect_absent "changed module: none of its code runs" "lib/lazy.js RAN|after lib/lazy.js"

printf "require('/app/lib/format.js');\nconsole.log('TAMPERED CODE RAN');\n" >>"$APP/lib/lazy.js"
run_app 1 "a module with added code stops the app" lazy
expect_line "grown module: the error names the file" \
    "cashstory-app: lib/lazy.js failed verification: its size differs from the $lazy_size bytes in the signed package index"
expect_absent "grown module: none of its code runs" "TAMPERED CODE RAN"
cp "$CS_TMP/lazy.js.orig" "$APP/lib/lazy.js"
run_app 0 "the restored module loads again" lazy
expect_line "restored module runs" "lib/lazy.js ran"

chmod u+w "$APP/lib/config.json"
sed -i 's/Hello/Howdy/' "$APP/lib/config.json"
run_app 1 "a changed JSON module stops the app" modules
expect_output "changed JSON module: the error names the file" \
    "lib/config\.json failed verification: its SHA-256 differs"
expect_absent "changed JSON module: its content is never used" "Howdy"
sed -i 's/Howdy/Hello/' "$APP/lib/config.json"

chmod u+w "$APP/node_modules/some-local-package" "$APP/node_modules/some-local-package/package.json"
sed -i 's/src\/main.js/src\/helper.js/' "$APP/node_modules/some-local-package/package.json"
run_app 1 "a changed package.json stops resolution" modules
expect_output "changed package.json: the error names the file" \
    "node_modules/some-local-package/package\.json failed verification"
sed -i 's/src\/helper.js/src\/main.js/' "$APP/node_modules/some-local-package/package.json"

chmod u+w "$APP/main.js"
cp "$APP/main.js" "$CS_TMP/main.js.orig"
echo "// changed" >>"$APP/main.js"
run_app 1 "a changed main script stops the app before any code" modules
expect_line "changed main script: the error names it" \
    "cashstory-app: main.js failed verification: its size differs from the $main_size bytes in the signed package index"
expect_absent "changed main script: nothing runs" "Hello"
cp "$CS_TMP/main.js.orig" "$APP/main.js"

mv "$APP/lib/format.js" "$CS_TMP/format.js"
ln -s "$CS_TMP/format.js" "$APP/lib/format.js"
run_app 1 "a module replaced by a link is refused" modules
expect_line "link: the error names the file" \
    "cashstory-app: lib/format.js failed verification: it is a symbolic link, not the signed file"
rm "$APP/lib/format.js"
mv "$CS_TMP/format.js" "$APP/lib/format.js"
run_app 0 "the restored package runs again" modules

# ---- Developer mode --------------------------------------------------------------------------

cp -r "$CS_SOURCE_DIR/examples/modules" devapp
run 0 "--dev runs an unsigned folder" app_host --app devapp --dev -- info
expect_line "--dev: the app is not verified" \
    'app: {"id":"com.example.modules","version":"1.0.0","name":"Modules","publisher":null,"origin":null,"verified":false}'
stderr=$(app_host --app devapp --dev 2>&1 >/dev/null)
if [ "$(printf '%s\n' "$stderr" | grep -c .)" = 1 ] &&
    [[ "$stderr" == "cashstory-app: warning: developer mode: devapp is not verified against a signed package index" ]]; then
    pass "--dev prints one warning line on stderr"
else
    fail "--dev prints one warning line on stderr (got: $stderr)"
fi

mkdir -p devapp2
cat >devapp2/cashstory.json <<'EOF'
{ "id": "com.example.dev", "name": "Dev", "version": "0.1.0", "main": "main.js" }
EOF
cat >devapp2/main.js <<'EOF'
try {
    require('./outside.js');
} catch (error) {
    console.log(`link: ${error.code}: ${error.message}`);
}
require('./broken.js');
EOF
printf 'module.exports = 1;\n\nconst = 2;\n' >devapp2/broken.js
ln -s /etc/hostname devapp2/outside.js
run 1 "--dev: a syntax error exits with status 1" app_host --app devapp2 --dev
expect_line "--dev: a link is never followed" \
    "link: ERR_REQUIRE_FAILED: cannot read outside.js: it is a symbolic link, which the app host does not follow"
expect_output "--dev: syntax error message" "uncaught exception: SyntaxError: "
expect_line "--dev: syntax error names the file and line" "    at /app/broken.js:3"

# ---- Privileges ------------------------------------------------------------------------------

if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    chmod 755 "$CS_TMP"
    mkdir -m 755 "$CS_TMP/suid"
    cp "$APP_HOST" "$CS_TMP/suid/cashstory-app"
    chmod 4755 "$CS_TMP/suid/cashstory-app"
    run 1 "a setuid host refuses to run" setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$CS_TMP/suid/cashstory-app" --help
    expect_output "setuid: the message says why" "refusing to run as a setuid or setgid program"
    chmod 700 "$CS_TMP"
else
    echo "ok - a setuid host refuses to run # SKIP needs root and setpriv"
fi

finish
