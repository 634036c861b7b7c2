#!/usr/bin/env bash
# End-to-end test of X.509 code signing. The openssl command builds a root CA,
# an intermediate CA and leaf certificates (EC P-256) in the scratch folder.
# The test then packs, verifies and installs the hello example with each leaf
# and checks the exit status and message of every outcome.

source "$(dirname "$0")/lib.sh"

for tool in openssl python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        fail "$tool command is available"
        finish
    fi
done

# ---- test PKI ----------------------------------------------------------------

pki=$CS_TMP/pki
mkdir -p "$pki/issued"
: >"$pki/index.txt"
echo 1000 >"$pki/serial"

# One configuration for 'openssl req' and 'openssl ca'. The paths in [test_ca]
# are relative to $pki, where every openssl command runs. Every certificate
# carries subject and authority key identifiers because the verifier sets
# X509_V_FLAG_X509_STRICT. With it, OpenSSL 3.0 rejects an issued certificate
# without an authority key identifier and a CA without a subject key identifier.
cat >"$pki/openssl.cnf" <<'EOF'
[req]
distinguished_name = req_dn
prompt = no

[req_dn]
CN = replaced by -subj

[ca]
default_ca = test_ca

[test_ca]
database = index.txt
new_certs_dir = issued
serial = serial
default_md = sha256
policy = any_name
unique_subject = no
copy_extensions = none

[any_name]
organizationName = optional
organizationalUnitName = optional
commonName = supplied

[ca_cert]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[code_signing]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[server_auth]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[no_eku]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[key_agreement_only]
basicConstraints = critical, CA:FALSE
keyUsage = critical, keyAgreement
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF

# pki_run STEP COMMAND...: run an openssl command in $pki. The checks below
# are meaningless without their certificates, so a failure prints the output,
# counts one failed check and stops the script.
pki_run() {
    local step=$1
    shift
    local output
    if ! output=$(cd "$pki" && "$@" 2>&1); then
        fail "PKI setup: $step"
        printf '%s\n' "$output" | sed 's/^/    /'
        finish
    fi
}

# make_root NAME SUBJECT: create a self-signed CA certificate $pki/NAME.pem
# valid for ten years from now, with its key in $pki/NAME.key.
make_root() {
    local name=$1 subject=$2
    pki_run "key of $name" openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$name.key"
    pki_run "certificate of $name" openssl req -x509 -new -config openssl.cnf -key "$name.key" \
        -subj "$subject" -extensions ca_cert -days 3650 -out "$name.pem"
}

# issue NAME SUBJECT ISSUER EXTENSIONS [VALIDITY...]: create $pki/NAME.key and
# the certificate $pki/NAME.pem signed by ISSUER with the EXTENSIONS section of
# openssl.cnf. VALIDITY is passed to 'openssl ca' and defaults to one year
# from now.
issue() {
    local name=$1 subject=$2 issuer=$3 extensions=$4
    shift 4
    local validity=("$@")
    if [ ${#validity[@]} -eq 0 ]; then
        validity=(-days 365)
    fi
    pki_run "key of $name" openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$name.key"
    pki_run "request of $name" openssl req -new -utf8 -config openssl.cnf -key "$name.key" \
        -subj "$subject" -out "$name.csr"
    pki_run "certificate of $name" openssl ca -batch -notext -config openssl.cnf \
        -cert "$issuer.pem" -keyfile "$issuer.key" -extensions "$extensions" \
        "${validity[@]}" -in "$name.csr" -out "$name.pem"
}

make_root root "/O=CashStory Tests/CN=Test Root CA"
issue intermediate "/O=CashStory Tests/CN=Test Intermediate CA" root ca_cert -days 3650
issue signer "/O=CashStory Tests/CN=Test Code Signer" intermediate code_signing
issue expired "/O=CashStory Tests/CN=Expired Signer" intermediate code_signing \
    -startdate 20200101000000Z -enddate 20210101000000Z
issue future "/O=CashStory Tests/CN=Future Signer" intermediate code_signing \
    -startdate 20900101000000Z -enddate 20910101000000Z
issue server "/O=CashStory Tests/CN=Server Auth Signer" intermediate server_auth
issue no_eku "/O=CashStory Tests/CN=No EKU Signer" intermediate no_eku
issue key_agreement "/O=CashStory Tests/CN=Key Agreement Signer" intermediate key_agreement_only

# Nine organizational units of 30 two-byte characters (U+00E9) make an
# RFC 2253 subject of about 620 bytes. That is longer than the 511 bytes that
# cs_signer.subject stores, and the cut after byte 511 splits a character.
e_acute=$(printf '\303\251')
units=$(printf "$e_acute%.0s" $(seq 30))
long_subject="/O=CashStory Tests"
for _ in $(seq 9); do
    long_subject="$long_subject/OU=$units"
done
issue long_subject "$long_subject/CN=Long Subject Signer" intermediate code_signing

make_root other_root "/O=Other Tests/CN=Other Root CA"
# Same subject as the real root but another key, so only the signatures can
# tell the two apart.
make_root impostor_root "/O=CashStory Tests/CN=Test Root CA"

signer_subject='CN=Test Code Signer,O=CashStory Tests'

# ---- trust files -------------------------------------------------------------

# The trust files live in their own folder and name most CA files by a path
# relative to it, which must not resolve against the working directory.
trust=$CS_TMP/trust
mkdir -p "$trust"

# write_trust FILE CA...: write a trust file that names the CA certificates.
write_trust() {
    local file=$1
    shift
    local list="" separator=""
    for ca in "$@"; do
        list="$list$separator\"$ca\""
        separator=", "
    done
    printf '{"publishers": [], "ca_certificates": [%s]}\n' "$list" >"$file"
}

write_trust "$trust/root.json" ../pki/root.pem
write_trust "$trust/intermediate.json" "$pki/intermediate.pem"
write_trust "$trust/other-root.json" ../pki/other_root.pem
write_trust "$trust/impostor-root.json" ../pki/impostor_root.pem
write_trust "$trust/no-ca.json"

# ---- helpers -----------------------------------------------------------------

copy_example app

# pack_app OUT NAME [CHAIN]: sign ./app with $pki/NAME.key and $pki/NAME.pem
# into OUT, embedding the CHAIN file when given. Packing only prepares the
# verify checks, so it counts as a check only when it fails.
pack_app() {
    local archive=$1 name=$2 chain=${3:-}
    local args=(pack app --key "$pki/$name.key" --cert "$pki/$name.pem" --out "$archive")
    if [ -n "$chain" ]; then
        args+=(--chain "$chain")
    fi
    local output
    if ! output=$("$CASHSTORY" "${args[@]}" 2>&1); then
        fail "pack $archive with $name"
        printf '%s\n' "$output" | sed 's/^/    /'
    fi
}

# expect_json NAME EXPRESSION: check that the Python EXPRESSION is true with
# j bound to the JSON document in $out.
expect_json() {
    local program='import json, sys
j = json.loads(sys.stdin.read())
sys.exit(0 if eval(sys.argv[1]) else 1)'
    if printf '%s\n' "$out" | python3 -c "$program" "$2" 2>/dev/null; then
        pass "$1"
    else
        fail "$1 (JSON output does not satisfy: $2)"
        printf '%s\n' "$out" | sed 's/^/    /'
    fi
}

# flip_byte IN OUT MEMBER POSITION: copy archive IN to OUT with one data byte
# of the tar member MEMBER XORed with 0x01, in place so that the member order
# and every tar header stay the same. POSITION is "last" or "middle".
flip_byte() {
    local program='import shutil, sys, tarfile
source, target, member, position = sys.argv[1:5]
with tarfile.open(source) as archive:
    info = archive.getmember(member)
offset = info.offset_data + (info.size - 1 if position == "last" else info.size // 2)
shutil.copyfile(source, target)
with open(target, "r+b") as f:
    f.seek(offset)
    byte = f.read(1)[0]
    f.seek(offset)
    f.write(bytes([byte ^ 0x01]))'
    python3 -c "$program" "$@"
}

# count_differing_bytes A B: print how many bytes differ between two files of
# the same size.
count_differing_bytes() {
    cmp -l "$1" "$2" | wc -l | tr -d ' '
}

# ---- valid leaf, root CA as trust anchor -------------------------------------

run 0 "pack leaf with intermediate chain" "$CASHSTORY" pack app --key "$pki/signer.key" \
    --cert "$pki/signer.pem" --chain "$pki/intermediate.pem" --out good.csa
expect_output "pack output names subject" "signed by $signer_subject"

run 0 "verify trusting root CA" "$CASHSTORY" verify good.csa --trust "$trust/root.json"
expect_output "verify output names subject" "certificate '$signer_subject'"
expect_output "verify output says trusted" "trust: +trusted"
expect_output "verify output says OK" "result: +OK"

run 0 "verify json trusting root CA" "$CASHSTORY" verify good.csa --json --trust "$trust/root.json"
expect_json "json ok is true" 'j["ok"] is True'
expect_json "json signer type is x509" 'j["signer"]["type"] == "x509"'
expect_json "json signer is trusted" 'j["signer"]["trusted"] is True'
expect_json "json signer subject" "j['signer']['subject'] == '$signer_subject'"
expect_json "json certificate digest present" \
    'len(j["signer"]["certificate_sha256"]) == 64'

run 0 "install trusted x509 package" "$CASHSTORY" install good.csa --store "$CS_TMP/store" \
    --trust "$trust/root.json"
expect_output "install output names subject" "signed by $signer_subject"

run 0 "verify installed x509 app" "$CASHSTORY" verify --installed com.example.hello \
    --store "$CS_TMP/store" --trust "$trust/root.json"
expect_output "installed verify says OK" "result: +OK"

# The installed copy is checked against the trust file given now.
run 3 "verify installed, other root trusted" "$CASHSTORY" verify --installed com.example.hello \
    --store "$CS_TMP/store" --trust "$trust/other-root.json"

run 0 "list store after install" "$CASHSTORY" list --store "$CS_TMP/store"
expect_output "list shows installed app" "^com\.example\.hello +1\.0\.0"

# ---- intermediate CA as trust anchor -----------------------------------------

run 0 "verify trusting intermediate only" "$CASHSTORY" verify good.csa \
    --trust "$trust/intermediate.json"
expect_output "intermediate anchor says OK" "result: +OK"

# A leaf signed straight by a trusted intermediate needs no embedded chain.
pack_app direct.csa signer
run 0 "verify no chain, intermediate trusted" "$CASHSTORY" verify direct.csa \
    --trust "$trust/intermediate.json"

# ---- validity dates ----------------------------------------------------------

pack_app expired.csa expired "$pki/intermediate.pem"
run 3 "verify expired leaf" "$CASHSTORY" verify expired.csa --trust "$trust/root.json"
expect_output "expired message says expired" "certificate has expired"
expect_output "expired message names subject" "CN=Expired Signer,O=CashStory Tests"

pack_app future.csa future "$pki/intermediate.pem"
run 3 "verify not-yet-valid leaf" "$CASHSTORY" verify future.csa --trust "$trust/root.json"
expect_output "not-yet-valid message" "certificate is not yet valid"
expect_output "not-yet-valid names subject" "CN=Future Signer,O=CashStory Tests"

# ---- extended key usage and key usage ----------------------------------------

pack_app server.csa server "$pki/intermediate.pem"
run 3 "verify serverAuth-only leaf" "$CASHSTORY" verify server.csa --trust "$trust/root.json"
expect_output "serverAuth message names codeSigning" "codeSigning"
expect_output "serverAuth message names subject" "CN=Server Auth Signer"

pack_app no-eku.csa no_eku "$pki/intermediate.pem"
run 3 "verify leaf without EKU" "$CASHSTORY" verify no-eku.csa --trust "$trust/root.json"
expect_output "no-EKU message names codeSigning" "codeSigning"

pack_app key-agreement.csa key_agreement "$pki/intermediate.pem"
run 3 "verify keyAgreement-only leaf" "$CASHSTORY" verify key-agreement.csa \
    --trust "$trust/root.json"
expect_output "key usage message" "digitalSignature"

# A package that pack wrote must verify. Pack may instead reject a subject it
# cannot record, with exit status 1.
pack_status=0
pack_output=$("$CASHSTORY" pack app --key "$pki/long_subject.key" --cert "$pki/long_subject.pem" \
    --chain "$pki/intermediate.pem" --out long-subject.csa 2>&1) || pack_status=$?
if [ "$pack_status" -eq 0 ]; then
    run 0 "verify long UTF-8 subject" "$CASHSTORY" verify long-subject.csa --json \
        --trust "$trust/root.json"
    expect_json "long subject json has signer" 'j.get("signer") is not None'
    expect_json "long subject json starts with CN" \
        'j["signer"]["subject"].startswith("CN=Long Subject Signer,")'
elif [ "$pack_status" -eq 1 ]; then
    pass "pack rejects long UTF-8 subject"
else
    fail "pack long UTF-8 subject (exit status $pack_status, expected 0 or 1)"
    printf '%s\n' "$pack_output" | sed 's/^/    /'
fi

# ---- untrusted roots ---------------------------------------------------------

run 3 "verify with unrelated root" "$CASHSTORY" verify good.csa --trust "$trust/other-root.json"
expect_output "unrelated root names subject" "certificate '$signer_subject' is not trusted"

run 3 "verify json with unrelated root" "$CASHSTORY" verify good.csa --json \
    --trust "$trust/other-root.json"
expect_json "json ok is false" 'j["ok"] is False'
expect_json "json signer is not trusted" 'j["signer"]["trusted"] is False'
expect_json "json untrusted signer type" 'j["signer"]["type"] == "x509"'

run 3 "verify with same-name impostor root" "$CASHSTORY" verify good.csa \
    --trust "$trust/impostor-root.json"
expect_output "impostor root names subject" "certificate '$signer_subject' is not trusted"

# The package embeds its own root, but only the trust file supplies anchors.
cat "$pki/intermediate.pem" "$pki/root.pem" >"$pki/chain-with-root.pem"
pack_app embedded-root.csa signer "$pki/chain-with-root.pem"
run 0 "verify embedded root, root trusted" "$CASHSTORY" verify embedded-root.csa \
    --trust "$trust/root.json"
run 3 "verify embedded root, other trusted" "$CASHSTORY" verify embedded-root.csa \
    --trust "$trust/other-root.json"

# ---- no CA in the trust file -------------------------------------------------

run 3 "verify with empty CA list" "$CASHSTORY" verify good.csa --trust "$trust/no-ca.json"
expect_output "empty CA list message" "names no CA certificate"
expect_output "empty CA list names subject" "$signer_subject"

# lib.sh points $CASHSTORY_TRUST at a trust file that is an empty object.
run 3 "verify with default empty trust" "$CASHSTORY" verify good.csa

# ---- missing intermediate ----------------------------------------------------

pack_app no-chain.csa signer
run 3 "verify missing intermediate" "$CASHSTORY" verify no-chain.csa --trust "$trust/root.json"
expect_output "missing intermediate message" "unable to get local issuer certificate"

# ---- tampering ---------------------------------------------------------------

# The last byte of the DER signature is inside the ECDSA signature value.
flip_byte good.csa bad-signature.csa .cashstory/index.sig last
if [ "$(count_differing_bytes good.csa bad-signature.csa)" = 1 ]; then
    pass "signature tamper changes one byte"
else
    fail "signature tamper changes one byte"
fi
run 3 "verify flipped signature byte" "$CASHSTORY" verify bad-signature.csa \
    --trust "$trust/root.json"
expect_output "flipped signature message" "CMS signature does not match the package index"

flip_byte good.csa bad-index.csa .cashstory/index.json middle
if [ "$(count_differing_bytes good.csa bad-index.csa)" = 1 ]; then
    pass "index tamper changes one byte"
else
    fail "index tamper changes one byte"
fi
run 3 "verify flipped index byte" "$CASHSTORY" verify bad-index.csa --trust "$trust/root.json"
expect_output "flipped index message" "CMS signature does not match the package index"

# ---- key that does not belong to the certificate -----------------------------

run 1 "pack with mismatched key" "$CASHSTORY" pack app --key "$pki/expired.key" \
    --cert "$pki/signer.pem" --chain "$pki/intermediate.pem" --out mismatch.csa
expect_output "mismatched key message" "private key does not belong to the certificate"
if [ -e mismatch.csa ]; then
    fail "mismatched key writes no package"
else
    pass "mismatched key writes no package"
fi

# ---- install of an untrusted package -----------------------------------------

untrusted_store=$CS_TMP/untrusted-store
run 3 "install untrusted x509 package" "$CASHSTORY" install good.csa --store "$untrusted_store" \
    --trust "$trust/other-root.json"
expect_output "install rejection names subject" "$signer_subject"

run 0 "list store after rejection" "$CASHSTORY" list --store "$untrusted_store"
if printf '%s\n' "$out" | grep -q 'com\.example\.hello'; then
    fail "rejected app is not listed"
    printf '%s\n' "$out" | sed 's/^/    /'
else
    pass "rejected app is not listed"
fi

finish
