# End-to-end tests: hand-built hostile archives (see craft.py) given to
# `cashstory verify` and `cashstory install`.
#
# craft.py signs each crafted index with the publisher key that the commands
# trust, so the signature is valid and only the structural checks can reject
# the archive. Each case must be rejected with the expected exit status and a
# message that names the entry or the reason, must not crash, and must leave
# the store exactly as it was.

source "$(dirname "$0")/lib.sh"

checked_cases=""

# hostile CASE STATUS REGEX: verify and install cases/CASE.csa, expecting the
# exit status and a message that matches the extended regex.
hostile() {
    local name=$1 status=$2 pattern=$3
    local archive="cases/$name.csa"
    checked_cases="$checked_cases $name"

    run "$status" "$name: verify exit status" cashstory verify "$archive" --trusted-key publisher.pub
    expect_output "$name: verify message" "$pattern"
    expect_no_crash "$name: verify does not crash"

    if [ "$status" -eq 3 ]; then
        run 3 "$name: verify --json exit status" cashstory verify "$archive" --json --trusted-key publisher.pub
        expect_output "$name: verify --json reports failure" '"ok": false'
    fi

    local before
    before=$(store_state)
    run "$status" "$name: install exit status" cashstory install "$archive" --trusted-key publisher.pub
    expect_output "$name: install message" "$pattern"
    expect_output "$name: install says not installed" "not installed"
    expect_no_crash "$name: install does not crash"
    expect_store_unchanged "$name: install" "$before"
}

# ---- setup -------------------------------------------------------------

cashstory key generate --out publisher >/dev/null || exit 1
key_id=$(cashstory key id publisher.pub 2>/dev/null | grep -Eo '[0-9a-f]{64}' | head -n 1)

copy_example app

# The store starts with version 0.9.0 of the same app, so an accepted 1.0.0
# would visibly replace it.
copy_example old
sed -i 's/"version": "1.0.0"/"version": "0.9.0"/' old/cashstory.json
run 0 "setup: pack version 0.9.0" cashstory pack old --key publisher.key --out old.csa
run 0 "setup: install version 0.9.0" cashstory install old.csa --trusted-key publisher.pub

run 0 "setup: craft the hostile archives" \
    craft build-all --src app --key publisher.key --pub publisher.pub --out-dir cases

# ---- control: crafted signatures are valid ------------------------------

# Without this, every case below could fail for the wrong reason.
checked_cases="$checked_cases valid"
run 0 "valid: crafted package verifies" cashstory verify cases/valid.csa --trusted-key publisher.pub
run 0 "valid: crafted package installs" \
    cashstory install cases/valid.csa --store control-store --trusted-key publisher.pub
run 0 "valid: installed crafted package verifies" \
    cashstory verify --installed com.example.hello --store control-store --trusted-key publisher.pub

# libarchive, GNU tar and Python's tarfile stop at the first zero block, so
# this entry is not part of the package unless a reader uses --ignore-zeros.
# It must never reach the store.
checked_cases="$checked_cases entry-after-end-marker"
run 0 "entry-after-end-marker: install" \
    cashstory install cases/entry-after-end-marker.csa --store hidden-store --trusted-key publisher.pub
if find hidden-store -name 'zz-hidden.js' | grep -q .; then
    fail "entry-after-end-marker: hidden entry not installed"
else
    pass "entry-after-end-marker: hidden entry not installed"
fi

# ---- members that do not match the signed index --------------------------

hostile unlisted-file 3 "file 'zz-unlisted\.js' is not in the signed index"
hostile unlisted-file-first 3 "file 'aa-unlisted\.js' is not in the signed index"
hostile missing-file 3 "file 'main\.js' is listed in the signed index but missing"
hostile duplicate-path 3 "file 'main\.js' appears twice in the archive"
hostile duplicate-path-other-content 3 "file 'main\.js' appears twice in the archive"
hostile renamed-file 3 "file 'main2\.js' is not in the signed index"
hostile size-differs-from-index 3 "file 'main\.js' is [0-9]+ bytes in the archive but the signed index says 84"
hostile mode-differs-from-index 3 "file 'main\.js' has mode 0755 but the signed index says 0644"
hostile index-names-other-signer 3 "index names signer key (ab){32} but the signature was made by key $key_id"

# ---- paths and entry types that a package must never contain ---------------

hostile absolute-path 3 "path '/main\.js' is absolute"
hostile absolute-path-outside 3 "path '/tmp/cashstory-e2e-evil\.sh' is absolute"
hostile dotdot-component 3 "path '\.\./evil\.js' contains a '\.\.' component"
hostile dotdot-inside-path 3 "path 'lib/\.\./\.\./evil\.js' contains a '\.\.' component"
hostile dot-slash-prefix 3 "path '\./main\.js' contains a '\.' component"
hostile backslash-path 3 "path 'lib.evil\.js' contains a backslash"
hostile symlink-entry 3 "archive entry 'main\.js' is a symbolic link"
hostile symlink-entry-extra 3 "archive entry 'lib/escape' is a symbolic link"
hostile hard-link-outside 3 "archive entry 'main\.js' is a hard link"
hostile hard-link-absolute 3 "archive entry 'lib/passwd' is a hard link"
hostile character-device 3 "archive entry 'lib/null' is a character device"
hostile fifo-entry 3 "archive entry 'lib/pipe' is a FIFO"
hostile directory-entry 3 "archive entry 'lib' is a folder"
hostile directory-entry-slash 3 "path 'lib/sub/' ends with '/'|'lib/sub/?' is a folder"
hostile setuid-mode 3 "archive entry 'main\.js' has the setuid, setgid or sticky bit \(mode 4755\)"
hostile setgid-mode 3 "archive entry 'main\.js' has the setuid, setgid or sticky bit \(mode 2644\)"
hostile sticky-mode 3 "archive entry 'main\.js' has the setuid, setgid or sticky bit \(mode 1644\)"
hostile pax-path-dotdot 3 "path '\.\./\.\./evil\.js' contains a '\.\.' component"
hostile pax-negative-size 3 "malformed archive: Tar size attribute is negative"
hostile pax-huge-size 3 "malformed archive: Tar size attribute overflow"

# A path with a newline and an escape sequence must be rejected, and must not
# reach the output raw, because there it could forge a "result:   OK" line or
# drive the terminal.
for name in entry-path-control-characters index-path-control-characters; do
    hostile "$name" 3 "absolute|empty component|control character"
    run 3 "$name: verify exit status (output check)" \
        cashstory verify "cases/$name.csa" --trusted-key publisher.pub
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

# ---- damaged or foreign archives ------------------------------------------

hostile truncated-entry 3 "archive entry 'main\.js'.*[Tt]runcated"
hostile header-claims-more-than-archive 3 "archive entry 'lib/big\.js'.*[Tt]runcated"
hostile cut-in-index 3 "archive entry '\.cashstory/index\.json'.*[Tt]runcated"
hostile cut-after-metadata 3 "malformed archive.*[Tt]runcated"
hostile zero-blocks 3 "the archive does not start with \.cashstory/index\.json"
hostile bad-header-checksum-later 3 "malformed archive: Damaged tar archive"
# Input that libarchive does not recognize as a tar archive at all is an
# error opening the input (status 1), like a missing file.
hostile empty-file 3 "is not a package archive: an uncompressed POSIX tar archive is expected"
hostile random-bytes 3 "is not a package archive: an uncompressed POSIX tar archive is expected"
hostile gzip-tar 3 "is not a package archive: an uncompressed POSIX tar archive is expected"
hostile bad-header-checksum 3 "is not a package archive: an uncompressed POSIX tar archive is expected"

# ---- limits -----------------------------------------------------------------

hostile index-entry-over-size-limit 3 "'\.cashstory/index\.json' is 16777217 bytes, over the limit of 16777216"
hostile signature-entry-over-size-limit 3 "'\.cashstory/index\.sig' is 1048576 bytes, over the limit"
hostile index-size-over-file-limit 3 "'main\.js'\): size 1073741825 exceeds the limit of 1073741824 bytes"
hostile index-total-over-package-limit 3 "files add up to more than 4294967296 bytes"
hostile header-size-over-file-limit 3 "archive entry 'zz-big\.bin' is 1073741825 bytes, over the limit of 1073741824"
hostile index-over-file-count-limit 3 "100001 files exceed the limit of 100000"
hostile index-path-too-long 3 "package index: files\[[0-9]+\]: invalid path: path is longer than 1024 bytes"
hostile entry-path-too-long 3 "archive entry [0-9]+: path is longer than 1024 bytes"
hostile entry-component-too-long 3 "has a component longer than 255 bytes"

# ---- index content that the signature covers but the format forbids ---------

hostile index-path-absolute 3 "invalid path: path '/etc/cron\.d/evil' is absolute"
hostile index-path-dotdot 3 "invalid path: path '\.\./evil\.js' contains a '\.\.' component"
hostile index-file-is-folder 3 "'lib' is both a file and a folder of 'lib/greet\.js'"
hostile index-unsorted 3 "is a duplicate or out of order"
hostile index-unknown-field 3 "package index: unknown field 'install_hook'"
hostile index-mode-setuid 3 "'main\.js'\): mode '4755' must be '0644' or '0755'"

# ---- manifests that match the signed digest but are invalid ----------------

hostile manifest-not-json 3 "cashstory\.json: invalid JSON"
hostile manifest-not-object 3 "cashstory\.json: the top level must be an object"
hostile manifest-version-number 3 "cashstory\.json: field 'version' must be a string"
hostile manifest-unknown-field 3 "cashstory\.json: unknown field 'postinstall'"
hostile manifest-missing-main 3 "cashstory\.json: missing required field 'main'"
hostile manifest-invalid-id 3 "cashstory\.json: field 'id': app id 'Com\.Example\.Hello'"
hostile manifest-invalid-version 3 "cashstory\.json: field 'version': '1\.0' is not a semantic version"
hostile manifest-id-mismatch 3 "cashstory\.json: field 'id' is 'com\.example\.other' but the index says 'com\.example\.hello'"
hostile manifest-version-mismatch 3 "cashstory\.json: field 'version' is '2\.0\.0' but the index says '1\.0\.0'"
hostile manifest-main-not-in-package 3 "cashstory\.json: field 'main' names 'missing\.js', which is not in the package"
hostile manifest-main-escapes 3 "cashstory\.json: field 'main'.*'\.\.' component"

# ---- metadata in the wrong place --------------------------------------------

hostile file-before-index 3 "the archive does not start with \.cashstory/index\.json"
hostile signature-before-index 3 "the archive does not start with \.cashstory/index\.json"
hostile signature-missing 3 "the archive has no \.cashstory/index\.sig after the index"
# Without signer.pub right after the signature, the archive reads as an
# X.509 (CMS) package, so the message is about the signature.
hostile signer-key-last 3 "signer\.pub|signature"
hostile index-repeated 3 "archive entry '\.cashstory/index\.json' is misplaced or repeated metadata"
hostile extra-metadata-file 3 "archive entry '\.cashstory/origin\.json' is misplaced or repeated metadata"
hostile signer-key-garbage 3 "\.cashstory/signer\.pub: not a PEM public key"
hostile signature-wrong-length 3 "the signature is 63 bytes, an Ed25519 signature is 64"

# ---- every crafted case has a check ------------------------------------------

for name in $(craft cases); do
    case " $checked_cases " in
    *" $name "*) ;;
    *) fail "craft.py case '$name' has no check in hostile_archive.sh" ;;
    esac
done

run 0 "store: version 0.9.0 still verifies" \
    cashstory verify --installed com.example.hello --trusted-key publisher.pub
expect_output "store: version 0.9.0 still installed" "com\.example\.hello 0\.9\.0"

finish
