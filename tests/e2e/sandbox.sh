# End-to-end tests of the sandbox: a native program runs in place of the app
# host (through CASHSTORY_APP_HOST) and tries to break out. Runs as root and,
# when the test runs as root, again as an ordinary user created for the test.
source "$(dirname "$0")/lib.sh"

probe="$CS_BUILD_DIR/tests/escape_probe"
[ -x "$probe" ] || { fail "escape_probe is built"; finish; }

# Copies of the binaries that an ordinary user can reach.
mkdir -p bin
cp "$CASHSTORY" "$probe" bin/
chmod 755 "$CS_TMP" bin bin/*
export CASHSTORY_APP_HOST="$CS_TMP/bin/escape_probe"
cs="$CS_TMP/bin/cashstory"

"$cs" key generate --out pub >/dev/null
copy_example app
"$cs" pack app --key pub.key --out app.csa >/dev/null
sed -i 's/"com.example.hello"/"com.example.other"/' app/cashstory.json
"$cs" pack app --key pub.key --out other.csa >/dev/null
chmod 644 pub.pub app.csa other.csa

escapes=(shadow "home:$HOME" "hidden:$CS_SOURCE_DIR" "hidden:$CS_TMP/store" write_app write_usr
    write_root can_write_data can_write_tmp proc ptrace mount inet packet can_unix userns
    clone_userns clone3_enosys unknown_enosys can_fork identity "signal_host:$$")

# sandbox_suite LABEL RUNNER...: every check runs through RUNNER (empty for
# the current user, or runuser for the ordinary user).
sandbox_suite() {
    local label=$1
    shift
    local store="$CS_TMP/store-$label"
    run 0 "$label: install" "$@" "$cs" install app.csa --store "$store" --trusted-key pub.pub
    run 0 "$label: install a second app" "$@" "$cs" install other.csa --store "$store" --trusted-key pub.pub

    run 0 "$label: escapes refused" "$@" "$cs" run com.example.hello --store "$store" \
        --trusted-key pub.pub -- "${escapes[@]}" "hidden:$store/data/com.example.other"
    local name
    for name in shadow home write_app write_usr write_root can_write_data proc ptrace mount inet \
        packet userns clone_userns clone3_enosys unknown_enosys identity signal_host; do
        expect_output "$label: $name" "^PASS $name"
    done
    if printf '%s\n' "$out" | grep -q '^FAIL'; then
        fail "$label: no escape succeeded"
    else
        pass "$label: no escape succeeded"
    fi

    # Two apps at once cannot see each other's data or processes.
    "$@" "$cs" run com.example.other --store "$store" --trusted-key pub.pub -- exit:0 >/dev/null
    run 0 "$label: other app's data hidden" "$@" "$cs" run com.example.hello --store "$store" \
        --trusted-key pub.pub -- "hidden:/data/../../$store/data/com.example.other" proc
    [ -e "$store/data/com.example.hello/probe.txt" ] && pass "$label: data folder persists" ||
        fail "$label: data folder persists"

    # A running app cannot signal another running app.
    "$@" "$cs" run com.example.other --store "$store" --trusted-key pub.pub -- sleep:4 >/dev/null 2>&1 &
    local sleeper=$!
    local target="" attempt
    for attempt in $(seq 1 50); do
        target=$(pgrep -n -f "cashstory-app.*sleep:4$" || true)
        [ -n "$target" ] && break
        sleep 0.1
    done
    if [ -n "$target" ]; then
        run 0 "$label: signal another app refused" "$@" "$cs" run com.example.hello --store "$store" \
            --trusted-key pub.pub -- "signal_host:$target"
    else
        fail "$label: the other app started"
    fi
    kill "$sleeper" 2>/dev/null
    wait "$sleeper" 2>/dev/null

    # The app's exit status is the command's.
    run 5 "$label: exit status passed through" "$@" "$cs" run com.example.hello --store "$store" \
        --trusted-key pub.pub -- exit:5

    # Limits: memory and processes, from the policy.
    printf '{"apps": {"com.example.hello": {"limits": {"memory_mb": 64, "processes": 16}}}}\n' \
        >"$CS_TMP/limits-$label.json"
    chmod 644 "$CS_TMP/limits-$label.json"
    run 0 "$label: process limit" "$@" "$cs" run com.example.hello --store "$store" \
        --trusted-key pub.pub --policy "$CS_TMP/limits-$label.json" -- forkbomb:200
    expect_output "$label: process limit reached" '^PASS forkbomb'
    out=$("$@" "$cs" run com.example.hello --store "$store" --trusted-key pub.pub \
        --policy "$CS_TMP/limits-$label.json" --verbose -- memory:512 2>&1)
    status=$?
    # A cgroup or init's watchdog ends the app with SIGKILL.
    if [ "$status" -eq 137 ] && ! printf '%s\n' "$out" | grep -q '^FAIL memory'; then
        pass "$label: memory limit stops the app (status $status)"
    else
        fail "$label: memory limit stops the app (status $status)"
        printf '%s\n' "$out" | sed 's/^/    /'
    fi
    expect_output "$label: limit mechanisms logged" "limits: memory: (cgroup v[12]|resident-memory watchdog)"
    run 0 "$label: host still works" true

    # A tampered app never starts.
    local current
    current=$(readlink -f "$store/apps/com.example.hello/current")
    chmod u+w "$current/main.js" 2>/dev/null
    printf '// changed\n' >>"$current/main.js" 2>/dev/null || "$@" sh -c "printf x >>'$current/main.js'"
    run 3 "$label: tampered app refused" "$@" "$cs" run com.example.hello --store "$store" \
        --trusted-key pub.pub -- exit:0
    expect_output "$label: tampered file named" "main.js"
}

if [ "$(id -u)" -eq 0 ]; then
    sandbox_suite root

    user=cashstory-test
    id "$user" >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin "$user"
    chown "$user" "$CS_TMP"
    sandbox_suite user runuser -u "$user" --
else
    echo "# not root: only the ordinary-user part runs"
    sandbox_suite user
fi

# A kernel that cannot create user namespaces stops the launch with a
# message that explains how to enable them; nothing runs without the sandbox.
if [ "$(id -u)" -eq 0 ] && [ -w /proc/sys/user/max_user_namespaces ]; then
    saved=$(cat /proc/sys/user/max_user_namespaces)
    trap 'echo "$saved" >/proc/sys/user/max_user_namespaces; chmod -R u+w "$CS_TMP" 2>/dev/null; rm -rf "$CS_TMP"' EXIT
    echo 0 >/proc/sys/user/max_user_namespaces
    run 1 "no user namespaces: refused" "$cs" run com.example.hello --store "$CS_TMP/store-root" \
        --trusted-key pub.pub -- identity
    echo "$saved" >/proc/sys/user/max_user_namespaces
    expect_output "no user namespaces: reason given" 'cannot create the sandbox namespaces.*max_user_namespaces'
    if printf '%s\n' "$out" | grep -q '^PASS\|^FAIL'; then
        fail "no user namespaces: the app did not run"
    else
        pass "no user namespaces: the app did not run"
    fi
else
    echo "# not run: the refusal without user namespaces needs a writable user.max_user_namespaces"
fi

# A developer folder runs unverified, with a warning, unless policy forbids it.
run 0 "dev mode runs" "$cs" run --dev app --store "$CS_TMP/store-dev" -- exit:0
expect_output "dev mode warns" 'WARNING: running the unsigned folder'
printf '{"defaults": {"developer_mode": false}}\n' >nodev.json
run 1 "dev mode refused by policy" "$cs" run --dev app --store "$CS_TMP/store-dev" --policy nodev.json
expect_output "dev mode refusal names the policy" "policy nodev.json sets developer_mode to false"

# A package runs without being installed; an untrusted one does not.
run 0 "run a package file" "$cs" run app.csa --store "$CS_TMP/store-csa" --trusted-key pub.pub -- identity
run 3 "untrusted package refused" "$cs" run app.csa --store "$CS_TMP/store-csa"
expect_output "untrusted signer named" 'untrusted signer: key'

finish
