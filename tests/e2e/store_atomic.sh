# Kill install and remove at several points with SIGKILL and check that the
# store always contains either the old state or the new one, never a partly
# installed app.
source "$(dirname "$0")/lib.sh"

cs() { "$CASHSTORY" "$@"; }

cs key generate --out pub >/dev/null

# An app large enough that an install takes a noticeable time: 400 files of
# 64 KiB each.
copy_example app
mkdir -p app/data
for i in $(seq 1 400); do
    head -c 65536 /dev/urandom >"app/data/file$i.bin"
done
cs pack app --key pub.key --out v1.csa >/dev/null
sed -i 's/"version": "1.0.0"/"version": "2.0.0"/' app/cashstory.json
cs pack app --key pub.key --out v2.csa >/dev/null

# check_state NAME ALLOWED...: the installed version is one of ALLOWED
# ("none" when the app is absent) and, when installed, verifies.
check_state() {
    local name=$1
    shift
    local version
    version=$(cs list --json | python3 -c 'import json,sys
d = json.load(sys.stdin)
print(d[0]["version"] if d else "none")')
    local ok=false v
    for v in "$@"; do
        [ "$v" = "$version" ] && ok=true
    done
    if ! $ok; then
        fail "$name: state is '$version', expected one of: $*"
        return
    fi
    if [ "$version" != none ] &&
        ! cs verify --installed com.example.hello --trusted-key pub.pub >/dev/null 2>&1; then
        fail "$name: installed version $version does not verify"
        return
    fi
    pass "$name: state '$version' is complete"
}

# kill_after DELAY ARGS...: run cashstory ARGS in the background and send it
# SIGKILL after DELAY seconds. The binary runs directly as the background job,
# so the signal reaches it and not a wrapper shell.
kill_after() {
    local delay=$1
    shift
    "$CASHSTORY" "$@" >/dev/null 2>&1 &
    local pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

delays=(0 0.005 0.01 0.02 0.03 0.05 0.08 0.12 0.2 0.3)

for d in "${delays[@]}"; do
    kill_after "$d" install v1.csa --trusted-key pub.pub
    check_state "first install killed after ${d}s" none 1.0.0
done

cs install v1.csa --trusted-key pub.pub >/dev/null
for d in "${delays[@]}"; do
    kill_after "$d" install v2.csa --trusted-key pub.pub
    check_state "upgrade killed after ${d}s" 1.0.0 2.0.0
done

for d in "${delays[@]}"; do
    kill_after "$d" remove com.example.hello
    check_state "remove killed after ${d}s" none 1.0.0 2.0.0
    cs install v2.csa --trusted-key pub.pub >/dev/null 2>&1
done

# The next command that takes the lock removes every leftover.
run 0 "install after the kills" cs install v2.csa --trusted-key pub.pub
[ -z "$(ls "$CASHSTORY_STORE/tmp")" ] && pass "staging leftovers removed" ||
    fail "staging leftovers removed: $(ls "$CASHSTORY_STORE/tmp")"
versions=$(find "$CASHSTORY_STORE/apps/com.example.hello" -mindepth 1 -maxdepth 1 -type d | wc -l)
[ "$versions" -le 2 ] && pass "at most two versions kept" || fail "at most two versions kept ($versions)"
run 0 "final verify" cs verify --installed com.example.hello --trusted-key pub.pub

# A tampered package never reaches the store, wherever the damage is.
cs list --json >before.json
python3 - v2.csa bad.csa <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[len(data) // 2] ^= 0x01
open(sys.argv[2], "wb").write(data)
PY
run 3 "tampered package rejected" cs install bad.csa --trusted-key pub.pub
cs list --json >after.json
cmp -s before.json after.json && pass "store unchanged after rejection" ||
    fail "store unchanged after rejection"
[ -z "$(ls "$CASHSTORY_STORE/tmp")" ] && pass "no staging left after rejection" ||
    fail "no staging left after rejection"

finish
