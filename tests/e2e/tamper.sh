# End-to-end tests: signed packages changed after signing.
#
# Covers one flipped data byte in every member of a .csa archive (verify and
# install), changes to an installed app (`verify --installed`) and the same
# changes to an unpacked package folder (`verify DIR`), and packages whose
# signer is not trusted.

source "$(dirname "$0")/lib.sh"

# regex_escape TEXT: print TEXT with the extended regex metacharacters escaped.
regex_escape() {
    printf '%s' "$1" | sed 's/[][\.*^$?+(){}|/]/\\&/g'
}

# ---- setup -------------------------------------------------------------

cashstory key generate --out publisher >/dev/null || exit 1
cashstory key generate --out stranger >/dev/null || exit 1
publisher_id=$(cashstory key id publisher.pub 2>/dev/null | grep -Eo '[0-9a-f]{64}' | head -n 1)
stranger_id=$(cashstory key id stranger.pub 2>/dev/null | grep -Eo '[0-9a-f]{64}' | head -n 1)

# The example app plus an executable file, so that mode 0755 is covered too.
copy_example app
mkdir -p app/tools
printf '#!/bin/sh\necho build\n' >app/tools/build.sh
chmod 0755 app/tools/build.sh
run 0 "setup: pack the app" cashstory pack app --key publisher.key --out app.csa
expect_output "setup: index lists tools/build.sh as 0755" "packed com\.example\.hello 1\.0\.0: 4 files"

copy_example old
sed -i 's/"version": "1.0.0"/"version": "0.9.0"/' old/cashstory.json
run 0 "setup: pack version 0.9.0" cashstory pack old --key publisher.key --out old.csa
mkdir old-unpacked
tar -xf old.csa -C old-unpacked

run 0 "control: untouched archive verifies" cashstory verify app.csa --trusted-key publisher.pub

# ---- one flipped byte in each member of the archive --------------------

# The store contains version 0.9.0, so an accepted 1.0.0 would replace it.
export CASHSTORY_STORE="$CS_TMP/archive-store"
run 0 "setup: install version 0.9.0" cashstory install old.csa --trusted-key publisher.pub

members=$(craft members app.csa | cut -f1)
member_count=$(printf '%s\n' "$members" | grep -c .)
if [ "$member_count" -eq 7 ]; then
    pass "archive: 7 members (3 metadata files and 4 app files)"
else
    fail "archive: 7 members (3 metadata files and 4 app files), found $member_count"
fi

for member in $members; do
    name="flipped byte in $member"
    cp app.csa flipped.csa
    craft flip flipped.csa "$member"

    case "$member" in
    .cashstory/index.json | .cashstory/index.sig)
        pattern="signature: the Ed25519 signature does not match the package index"
        ;;
    .cashstory/signer.pub)
        pattern="\.cashstory/signer\.pub: not a PEM public key|signature: the Ed25519 signature does not match"
        ;;
    *)
        pattern="file '$(regex_escape "$member")' has SHA-256 [0-9a-f]{64} but the signed index says [0-9a-f]{64}"
        ;;
    esac

    run 3 "$name: verify exit status" cashstory verify flipped.csa --trusted-key publisher.pub
    expect_output "$name: verify message" "$pattern"
    expect_no_crash "$name: verify does not crash"

    before=$(store_state)
    run 3 "$name: install exit status" cashstory install flipped.csa --trusted-key publisher.pub
    expect_output "$name: install message" "$pattern"
    expect_no_crash "$name: install does not crash"
    expect_store_unchanged "$name: install" "$before"
done

# ---- changes to an installed app and to an unpacked folder --------------

export CASHSTORY_STORE="$CS_TMP/installed-store"
app_id=com.example.hello
outside="$CS_TMP/outside"
mkdir -p "$outside"

# Each tamper_* function changes the package folder given as $1. The ${1:?}
# guards stop the script instead of touching / when $1 is empty.

tamper_edit_manifest() { craft flip "${1:?}/cashstory.json"; }
tamper_edit_main() { craft flip "${1:?}/main.js"; }
tamper_edit_nested() { craft flip "${1:?}/lib/greet.js"; }
tamper_edit_executable() { craft flip "${1:?}/tools/build.sh"; }
tamper_truncate_file() { truncate -s 10 "${1:?}/main.js"; }
tamper_append_to_file() { printf '//' >>"${1:?}/main.js"; }
tamper_edit_index() { craft flip "${1:?}/.cashstory/index.json"; }
tamper_edit_signature() { craft flip "${1:?}/.cashstory/index.sig"; }
tamper_replace_signer_key() { cp stranger.pub "${1:?}/.cashstory/signer.pub"; }
tamper_old_version_metadata() {
    # A valid, signed index and signature, but for version 0.9.0.
    cp old-unpacked/.cashstory/index.json old-unpacked/.cashstory/index.sig "${1:?}/.cashstory/"
}
tamper_add_file() { echo "console.log('added');" >"${1:?}/evil.js"; }
tamper_add_nested_file() { echo "console.log('added');" >"${1:?}/lib/evil.js"; }
tamper_add_metadata_file() { echo "rm -rf ~" >"${1:?}/.cashstory/hook.sh"; }
tamper_remove_file() { rm "${1:?}/main.js"; }
tamper_remove_folder() { rm -r "${1:?}/lib"; }
tamper_remove_index() { rm "${1:?}/.cashstory/index.json"; }
tamper_remove_signature() { rm "${1:?}/.cashstory/index.sig"; }
tamper_rename_file() { mv "${1:?}/main.js" "${1:?}/main2.js"; }
tamper_symlink_replaces_file() {
    rm "${1:?}/main.js"
    ln -s lib/greet.js "${1:?}/main.js"
}
tamper_symlink_replaces_folder() {
    rm -rf "${outside:?}/lib"
    cp -r "${1:?}/lib" "$outside/lib"
    rm -r "${1:?}/lib"
    ln -s "$outside/lib" "${1:?}/lib"
}
tamper_symlink_replaces_index() {
    cp "${1:?}/.cashstory/index.json" "$outside/index.json"
    rm "${1:?}/.cashstory/index.json"
    ln -s "$outside/index.json" "${1:?}/.cashstory/index.json"
}
tamper_symlink_replaces_metadata_folder() {
    rm -rf "${outside:?}/metadata"
    cp -r "${1:?}/.cashstory" "$outside/metadata"
    rm -r "${1:?}/.cashstory"
    ln -s "$outside/metadata" "${1:?}/.cashstory"
}
tamper_chmod_x() { chmod +x "${1:?}/main.js"; }
tamper_chmod_minus_x() { chmod -x "${1:?}/tools/build.sh"; }
tamper_setuid() { chmod u+s "${1:?}/tools/build.sh"; }
tamper_fifo_added() { mkfifo "${1:?}/lib/pipe"; }
tamper_fifo_replaces_file() {
    rm "${1:?}/main.js"
    mkfifo "${1:?}/main.js"
}

# Each line: the tamper function (without "tamper_") and the extended
# regexes that the verify output must match, separated by " ;; ".
tamper_cases=$(
    cat <<EOF
edit_manifest ;; file 'cashstory\.json' has SHA-256 [0-9a-f]{64} but the signed index says
edit_main ;; file 'main\.js' has SHA-256 [0-9a-f]{64} but the signed index says
edit_nested ;; file 'lib/greet\.js' has SHA-256 [0-9a-f]{64} but the signed index says
edit_executable ;; file 'tools/build\.sh' has SHA-256 [0-9a-f]{64} but the signed index says
truncate_file ;; file 'main\.js' is 10 bytes but the signed index says 84
append_to_file ;; file 'main\.js' is 86 bytes but the signed index says 84
edit_index ;; signature: the Ed25519 signature does not match the package index
edit_signature ;; signature: the Ed25519 signature does not match the package index
replace_signer_key ;; signature: the Ed25519 signature does not match the package index \(key $stranger_id\)
old_version_metadata ;; file 'cashstory\.json' has SHA-256 [0-9a-f]{64} but the signed index says ;; file 'tools/build\.sh' is not in the signed index
add_file ;; file 'evil\.js' is not in the signed index
add_nested_file ;; file 'lib/evil\.js' is not in the signed index
add_metadata_file ;; unexpected file '\.cashstory/hook\.sh' in the metadata folder
remove_file ;; file 'main\.js' is listed in the signed index but missing
remove_folder ;; file 'lib/greet\.js' is listed in the signed index but missing
remove_index ;; has no signed index
remove_signature ;; cannot open \.cashstory/index\.sig
rename_file ;; file 'main2\.js' is not in the signed index ;; file 'main\.js' is listed in the signed index but missing
symlink_replaces_file ;; 'main\.js' is a symbolic link ;; file 'main\.js' is listed in the signed index but missing
symlink_replaces_folder ;; 'lib' is a symbolic link ;; file 'lib/greet\.js' is listed in the signed index but missing
symlink_replaces_index ;; cannot open \.cashstory/index\.json
symlink_replaces_metadata_folder ;; cannot open \.cashstory/index\.json
chmod_x ;; file 'main\.js' is executable but the signed index says mode 0644
chmod_minus_x ;; file 'tools/build\.sh' is not executable but the signed index says mode 0755
setuid ;; file 'tools/build\.sh' has the setuid, setgid or sticky bit
fifo_added ;; 'lib/pipe' is a FIFO
fifo_replaces_file ;; 'main\.js' is a FIFO ;; file 'main\.js' is listed in the signed index but missing
EOF
)

# Install app.csa afresh and print the path of its version folder, with
# write permission added so the tests can change it as any user.
fresh_install() {
    cashstory remove "$app_id" >/dev/null 2>&1
    cashstory install app.csa --trusted-key publisher.pub >/dev/null || return 1
    local dir
    dir=$(readlink -f "$CASHSTORY_STORE/apps/$app_id/current") || return 1
    chmod -R u+w "$dir"
    printf '%s\n' "$dir"
}

# Unpack app.csa into a fresh ./unpacked and print its path.
fresh_unpack() {
    chmod -R u+w unpacked 2>/dev/null
    rm -rf unpacked
    mkdir unpacked
    tar -xf app.csa -C unpacked || return 1
    printf '%s\n' "$CS_TMP/unpacked"
}

fresh_install >/dev/null || fail "control: install the untouched package"
run 0 "control: untouched installed app verifies" \
    cashstory verify --installed "$app_id" --trusted-key publisher.pub
fresh_unpack >/dev/null || fail "control: unpack the untouched package"
run 0 "control: untouched unpacked folder verifies" cashstory verify unpacked --trusted-key publisher.pub

while IFS= read -r line; do
    tamper=${line%% ;; *}
    patterns=${line#* ;; }

    for where in installed unpacked; do
        name="${tamper//_/-} ($where)"
        if [ "$where" = installed ]; then
            dir=$(fresh_install) || { fail "$name: install the untouched package"; continue; }
            command=(cashstory verify --installed "$app_id" --trusted-key publisher.pub)
        else
            dir=$(fresh_unpack) || { fail "$name: unpack the untouched package"; continue; }
            command=(cashstory verify unpacked --trusted-key publisher.pub)
        fi

        "tamper_$tamper" "$dir"
        run 3 "$name: verify exit status" "${command[@]}"
        rest=$patterns
        number=1
        while [ -n "$rest" ]; do
            pattern=${rest%% ;; *}
            expect_output "$name: verify message $number" "$pattern"
            if [ "$pattern" = "$rest" ]; then
                rest=""
            else
                rest=${rest#* ;; }
            fi
            number=$((number + 1))
        done
        expect_no_crash "$name: verify does not crash"
    done
done <<<"$tamper_cases"

# `remove` must clean up an app even after the changes above.
dir=$(fresh_install) || fail "remove: install the untouched package"
tamper_fifo_replaces_file "$dir"
tamper_symlink_replaces_folder "$dir"
run 0 "remove: tampered app is removed" cashstory remove "$app_id"
if [ -e "$CASHSTORY_STORE/apps/$app_id" ]; then
    fail "remove: app folder is gone"
else
    pass "remove: app folder is gone"
fi
if [ -d "$outside/lib" ] && [ -f "$outside/lib/greet.js" ]; then
    pass "remove: symlink target outside the store is left alone"
else
    fail "remove: symlink target outside the store is left alone"
fi

# A file name that is not UTF-8 must still appear among the problems that
# --json prints: "problems" must contain as many entries as "problem_count".
json_problems_complete() {
    python3 -c '
import json, sys
result = json.load(sys.stdin)
sys.exit(0 if len(result["problems"]) == result["problem_count"] > 0 else 1)
'
}
for where in installed unpacked; do
    name="file name not UTF-8 ($where)"
    if [ "$where" = installed ]; then
        dir=$(fresh_install) || { fail "$name: install the untouched package"; continue; }
        command=(cashstory verify --installed "$app_id" --json --trusted-key publisher.pub)
    else
        dir=$(fresh_unpack) || { fail "$name: unpack the untouched package"; continue; }
        command=(cashstory verify unpacked --json --trusted-key publisher.pub)
    fi
    touch "$dir/$(printf 'bad\377name.js')"
    run 3 "$name: verify --json exit status" "${command[@]}"
    if "${command[@]}" 2>/dev/null | json_problems_complete; then
        pass "$name: --json lists every problem"
    else
        fail "$name: --json lists every problem"
        printf '%s\n' "$out" | grep -A3 '"problem' | sed 's/^/    /'
    fi
done

# A file name with a newline and an escape sequence must not reach the
# output raw, where it could forge a "result:   OK" line or drive the terminal.
for where in installed unpacked; do
    name="file name with control characters ($where)"
    if [ "$where" = installed ]; then
        dir=$(fresh_install) || { fail "$name: install the untouched package"; continue; }
        command=(cashstory verify --installed "$app_id" --trusted-key publisher.pub)
    else
        dir=$(fresh_unpack) || { fail "$name: unpack the untouched package"; continue; }
        command=(cashstory verify unpacked --trusted-key publisher.pub)
    fi
    touch "$dir/$(printf 'x\nresult:   OK\n\033[2K')"
    run 3 "$name: verify exit status" "${command[@]}"
    if printf '%s\n' "$out" | grep -qx 'result:   OK'; then
        fail "$name: output has no forged 'result:   OK' line"
        printf '%s\n' "$out" | sed -n 'l 0' | sed 's/^/    /'
    else
        pass "$name: output has no forged 'result:   OK' line"
    fi
    if printf '%s' "$out" | LC_ALL=C grep -q $'\x1b'; then
        fail "$name: output has no raw escape character"
    else
        pass "$name: output has no raw escape character"
    fi
done

# The "current" link must name a version folder inside the app's folder.
# Finding it redirected is an error locating the app (status 1), not a
# verification result.
fresh_install >/dev/null || fail "current link redirected: install the untouched package"
ln -sfn "$CS_TMP/unpacked" "$CASHSTORY_STORE/apps/$app_id/current"
run 1 "current link redirected outside: verify --installed exit status" \
    cashstory verify --installed "$app_id" --trusted-key publisher.pub
expect_output "current link redirected outside: message" "current points outside the app folder"
ln -sfn .. "$CASHSTORY_STORE/apps/$app_id/current"
run 1 "current link redirected to the parent: verify --installed exit status" \
    cashstory verify --installed "$app_id" --trusted-key publisher.pub
expect_output "current link redirected to the parent: message" "current points outside the app folder"

# ---- signer not trusted -------------------------------------------------

untrusted_pattern="key $publisher_id is not in "

run 3 "untrusted: verify without trusted keys" cashstory verify app.csa
expect_output "untrusted: verify without trusted keys names the key" "$untrusted_pattern"
run 3 "untrusted: verify with another key trusted" cashstory verify app.csa --trusted-key stranger.pub
expect_output "untrusted: verify with another key trusted names the key" "$untrusted_pattern"
run 3 "untrusted: verify --json" cashstory verify app.csa --json
expect_output "untrusted: verify --json says not trusted" '"trusted": false'
expect_output "untrusted: verify --json names the key" "\"key_id\": \"$publisher_id\""

run 0 "untrusted: pack with the stranger's key" cashstory pack app --key stranger.key --out stranger.csa
run 3 "untrusted: verify a stranger's package" cashstory verify stranger.csa --trusted-key publisher.pub
expect_output "untrusted: verify a stranger's package names the key" \
    "key $stranger_id is not in "

export CASHSTORY_STORE="$CS_TMP/trust-store"
run 0 "untrusted: setup install version 0.9.0" cashstory install old.csa --trusted-key publisher.pub
before=$(store_state)
run 3 "untrusted: install a stranger's package" cashstory install stranger.csa --trusted-key publisher.pub
expect_output "untrusted: install names the key" "key $stranger_id is not in "
expect_store_unchanged "untrusted: install" "$before"

run 3 "untrusted: verify --installed without trusted keys" cashstory verify --installed "$app_id"
expect_output "untrusted: verify --installed names the key" "$untrusted_pattern|key $publisher_id"
fresh_unpack >/dev/null || fail "untrusted: unpack the package"
run 3 "untrusted: verify folder without trusted keys" cashstory verify unpacked
expect_output "untrusted: verify folder names the key" "$untrusted_pattern"

finish
