#!/usr/bin/env bash
# Build the libFuzzer targets in BUILD_DIR and run each for SECONDS, starting
# from seeds made from the example app. Exits non-zero on any crash.
set -euo pipefail

build=${1:?usage: run.sh BUILD_DIR SECONDS}
seconds=${2:-30}
root=$(cd "$(dirname "$0")/../.." && pwd)

CC=${CC:-clang} cmake -S "$root" -B "$build" -DCS_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null

# Seeds: a real manifest, a real index, a real package and a trust file.
seeds="$build/seeds"
rm -rf "$seeds"
mkdir -p "$seeds"/{manifest,index,archive,trust,policy,bus_frame,update_metadata}
cs="$build/cashstory"
(
    cd "$seeds"
    "$cs" key generate --out seed >/dev/null
    SOURCE_DATE_EPOCH=0 "$cs" pack "$root/examples/hello" --key seed.key --out archive/hello >/dev/null
    tar -xOf archive/hello .cashstory/index.json >index/hello
    cp "$root/examples/hello/cashstory.json" manifest/hello
    printf '{"publishers": [{"name": "Seed", "key_id": "%s"}], "ca_certificates": []}\n' \
        "$("$cs" key id seed.pub)" >trust/seed
    printf 'CS\001\001\000\000\000\000\001\000\000\000\000\000\000\000\001\000\000\000\002\000\000\000t{}' >bus_frame/publish
    printf '%s\n' '{"trust": {"blocked_publishers": ["CN=Blocked,O=Example"]}, "run": {"allow": ["com.example.*"], "block": ["com.example.bad"]}, "defaults": {"fs": [{"path": "~/x", "access": "read"}, {"path": "/srv", "access": "deny"}], "bus": {"publish": ["quotes/*"], "deny_subscribe": ["a/*/c"]}, "net": {"allow": ["*.example.com:8443"]}, "limits": {"memory_mb": 64}, "developer_mode": true, "update": {"channel": "beta", "window": "22:00-06:00", "rollout_percent": 10}, "versions": {"minimum": "1.0.0", "range": ">=1.0.0 <2.0.0"}}, "apps": {"com.example.app": {"fs": [{"path": "/srv/shared", "access": "read-write"}]}, "com.example.*": {"remote_debugging": true}}, "repositories": {"corp": {"url": "https://127.0.0.1:8443/r", "root": "root.json"}}}' >policy/seed
    # Metadata seeds: the type byte (0 root, 1 targets, 2 snapshot, 3 timestamp),
    # then a file of a repository that lists the example app.
    "$cs" repo init repo --keys repo-keys >/dev/null
    "$cs" repo add repo archive/hello --channel stable --keys repo-keys --trusted-key seed.pub >/dev/null
    "$cs" repo delegate repo acme --pattern 'com.acme.*' --keys repo-keys >/dev/null
    for seed in 0:root 1:targets 2:snapshot 3:timestamp; do
        { printf "\\$(printf %o "${seed%%:*}")"; cat "repo/${seed#*:}.json"; } >"update_metadata/${seed#*:}"
    done
)

status=0
for target in manifest index archive trust policy bus_frame update_metadata; do
    corpus="$build/corpus/$target"
    mkdir -p "$corpus"
    echo "fuzz_$target: ${seconds}s"
    if ! "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -print_final_stats=0 \
        -rss_limit_mb=2048 -artifact_prefix="$build/crash-$target-" \
        "$corpus" "$seeds/$target" >"$build/fuzz_$target.log" 2>&1; then
        echo "fuzz_$target FAILED; see $build/fuzz_$target.log"
        tail -30 "$build/fuzz_$target.log"
        status=1
    else
        grep -E '^Done [0-9]+ runs' "$build/fuzz_$target.log" || true
    fi
done
exit $status
