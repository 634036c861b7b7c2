# A publisher, a repository served by nginx and an update policy, for the
# update client tests. Source it after tests/e2e/lib.sh and
# tests/update/nginx.sh.
#
#   fixture_start [NGINX_CONF]      key pub.key, repository www/repo (keys in
#                                   keys/), nginx serving www/
#   make_app DIR FILES SIZE         the hello example plus FILES data files
#                                   of SIZE bytes each, in DIR
#   pack_version DIR VERSION        set the version of DIR and pack it as
#                                   VERSION.csa
#   publish VERSION CHANNEL         add VERSION.csa to the repository
#   write_policy UPDATE [VERSIONS] [APPS] [REPOSITORY]
#                                   write policy/managed/10-update.json with
#                                   these JSON objects as defaults.update,
#                                   defaults.versions and apps, and the
#                                   repository "corp" (REPOSITORY is its JSON
#                                   object; default: $NGINX_URL/repo with
#                                   NGINX_CA)
#   blob_path FILE                  the repository path of FILE's blob
#
# Every cashstory command of a test runs with CASHSTORY_POLICY=policy and
# CASHSTORY_TRUST naming a trust file that lists pub.pub.

cs() { timeout 120 "$CASHSTORY" "$@"; }

fixture_start() {
    cs key generate --out pub >/dev/null || exit 1
    printf '{ "publishers": [ { "name": "Test Publisher", "key_id": "%s" } ] }\n' \
        "$(cs key id pub.pub)" >"$CS_TMP/trust.json"
    export CASHSTORY_TRUST="$CS_TMP/trust.json"
    mkdir -p www
    cs repo init www/repo --keys keys >/dev/null || {
        echo "Bail out! cashstory repo init failed"
        exit 1
    }
    nginx_start "$CS_TMP/www" "${1:-}"
    mkdir -p "$CS_TMP/policy/managed"
    export CASHSTORY_POLICY="$CS_TMP/policy"
    export CASHSTORY_MACHINE_ID=test-desktop-1
}

make_app() {
    local dir=$1 files=$2 size=$3 i
    copy_example "$dir"
    mkdir -p "$dir/data"
    for i in $(seq 1 "$files"); do
        head -c "$size" /dev/urandom >"$dir/data/file$i.bin"
    done
}

pack_version() {
    local dir=$1 version=$2
    sed -i "s/\"version\": \"[^\"]*\"/\"version\": \"$version\"/" "$dir/cashstory.json"
    cs pack "$dir" --key pub.key --out "$version.csa" >/dev/null || {
        echo "Bail out! cannot pack $version"
        exit 1
    }
}

publish() {
    cs repo add www/repo "$1.csa" --channel "$2" --keys keys >"$CS_TMP/publish.out" 2>&1 || {
        cat "$CS_TMP/publish.out"
        echo "Bail out! cannot publish $1 on $2"
        exit 1
    }
}

write_policy() {
    local update=${1:-'{}'} versions=${2:-'{}'} apps=${3:-'{}'}
    local repository=${4:-"{\"url\": \"$NGINX_URL/repo\", \"root\": \"$CS_TMP/www/repo/1.root.json\", \"ca_file\": \"$NGINX_CA\"}"}
    mkdir -p "$CS_TMP/policy/managed"
    cat >"$CS_TMP/policy/managed/10-update.json" <<EOF
{
  "repositories": { "corp": $repository },
  "defaults": { "update": $update, "versions": $versions },
  "apps": $apps
}
EOF
}

blob_path() {
    echo "/repo/blobs/sha256/$(sha256sum "$1" | cut -d' ' -f1)"
}

# json_field JSON ID FIELD: FIELD of app ID in the output of update --json.
json_field() {
    printf '%s\n' "$1" | python3 -c 'import json, sys
apps = {a["id"]: a for a in json.load(sys.stdin)["apps"]}
print(apps[sys.argv[1]].get(sys.argv[2], ""))' "$2" "$3"
}

# installed_version: the current version of com.example.hello, or "none".
installed_version() {
    "$CASHSTORY" list --json 2>/dev/null | python3 -c 'import json, sys
d = [a for a in json.load(sys.stdin) if a["id"] == "com.example.hello"]
print(d[0]["version"] if d else "none")'
}
