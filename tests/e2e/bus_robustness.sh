# Robustness tests of the bus broker through the real daemon and sandbox.
# They cover malformed frames, forged identities, a receiver that never reads
# and floods. They also run 50 apps at once, kill an app and the daemon with
# kill -9, run two instances of one app, and disconnect a responder while its
# requester's queue is full. A native client (tests/sandbox/bus_client.c) runs in each sandbox in
# place of the JavaScript host. Every instance writes its output to
# STORE/data/APP/INSTANCE.log, which the checks read.
source "$(dirname "$0")/lib.sh"

daemon="$(dirname "$CASHSTORY")/cashstoryd"
client="$CS_BUILD_DIR/tests/bus_client"
socket="$CS_TMP/ctl/control.sock"
data="$CASHSTORY_STORE/data"
export CASHSTORY_APP_HOST="$client"
daemon_pid=

if [ ! -x "$client" ]; then
    fail "bus_client is built (missing $client; re-run cmake so that tests/CMakeLists.txt sees tests/sandbox/bus_client.c)"
    finish
fi

# Stop the daemon (and with it every sandbox) however the script ends.
cleanup() {
    [ -n "$daemon_pid" ] && kill -9 "$daemon_pid" 2>/dev/null
    chmod -R u+w "$CS_TMP" 2>/dev/null
    rm -rf "$CS_TMP"
}
trap cleanup EXIT

cs() {
    local cmd=$1
    shift
    timeout 30 "$CASHSTORY" "$cmd" --socket "$socket" "$@"
}

skip() {
    echo "ok - $1 # SKIP $2"
}

# ASan keeps freed memory in a quarantine of up to 256 MiB, so in such a build
# the daemon's resident memory does not show whether the broker keeps its
# limits.
sanitizer_build=0
if grep -q __asan_init "$daemon"; then
    sanitizer_build=1
fi

# ---- helpers ------------------------------------------------------------

# wait_for SECONDS COMMAND...: run COMMAND every 0.1 s until it succeeds.
wait_for() {
    local tries=$(($1 * 10))
    shift
    for _ in $(seq 1 "$tries"); do
        "$@" && return 0
        sleep 0.1
    done
    "$@"
}

has_line() {
    grep -Eq -- "$2" "$1" 2>/dev/null
}

has_text() {
    grep -Fq -- "$2" "$1" 2>/dev/null
}

# expect_line NAME FILE PATTERN [SECONDS]: wait until FILE has a line that
# matches the extended regex PATTERN. On a timeout, fail and show the file.
expect_line() {
    local name=$1 file=$2 pattern=$3 seconds=${4:-10}
    if wait_for "$seconds" has_line "$file" "$pattern"; then
        pass "$name"
    else
        fail "$name (no line matches '$pattern' in $(basename "$file") after $seconds s)"
        tail -20 "$file" 2>/dev/null | sed 's/^/    /'
    fi
}

# expect_text NAME FILE TEXT [SECONDS]: like expect_line, for a fixed text.
expect_text() {
    local name=$1 file=$2 text=$3 seconds=${4:-10}
    if wait_for "$seconds" has_text "$file" "$text"; then
        pass "$name"
    else
        fail "$name (no line contains '$text' in $(basename "$file") after $seconds s)"
        tail -20 "$file" 2>/dev/null | sed 's/^/    /'
    fi
}

# expect_no_line NAME FILE PATTERN: fail when FILE has a matching line.
expect_no_line() {
    local name=$1 file=$2 pattern=$3
    if grep -Eq -- "$pattern" "$file"; then
        fail "$name (found '$pattern' in $(basename "$file"))"
        grep -E -- "$pattern" "$file" | head -5 | sed 's/^/    /'
    else
        pass "$name"
    fi
}

# expect_true NAME DETAIL COMMAND...: pass when COMMAND succeeds, else fail
# with DETAIL.
expect_true() {
    local name=$1 detail=$2
    shift 2
    if "$@"; then
        pass "$name"
    else
        fail "$name ($detail)"
    fi
}

# start_client APP ARGS...: start the native client as the app
# com.example.robust.APP with ARGS as its commands. Sets $instance,
# $sandbox_pid and $log (the file that receives the client's output).
start_client() {
    local app=com.example.robust.$1 text
    shift
    text=$(cs start "$app" -- "$@" 2>&1)
    instance=$(sed -nE 's/.*\(instance ([0-9a-f]{32}), pid ([0-9]+)\).*/\1/p' <<<"$text")
    sandbox_pid=$(sed -nE 's/.*\(instance ([0-9a-f]{32}), pid ([0-9]+)\).*/\2/p' <<<"$text")
    log="$data/$app/$instance.log"
    if [ -z "$instance" ]; then
        fail "start $app ($text)"
        return 1
    fi
}

start_daemon() {
    "$daemon" --socket "$socket" --trusted-key pub.pub --policy policy.json >>daemon.log 2>&1 &
    daemon_pid=$!
    if ! wait_for 5 cs ps >/dev/null 2>&1; then
        fail "daemon started"
        sed 's/^/    /' daemon.log
        finish
    fi
}

# State ("running", "exited") and exit status of one instance, from ps.
instance_field() {
    cs ps --json | python3 -c '
import json, sys
for app in json.load(sys.stdin):
    if app["instance"] == sys.argv[1]:
        print(app.get(sys.argv[2], ""))
' "$1" "$2"
}

instance_exited() {
    [ "$(instance_field "$1" state)" = exited ]
}

running_count() {
    cs ps --json | python3 -c '
import json, sys
print(sum(1 for a in json.load(sys.stdin) if a["state"] == "running" and a["app"].startswith(sys.argv[1])))
' "${1:-}"
}

no_app_running() {
    [ "$(running_count)" = 0 ]
}

# Daemon log line written when the broker closes a connection.
closed_line() {
    echo "closed the bus connection of com.example.robust.$1 ($2): $3"
}

rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$daemon_pid/status"
}

peak_kib() {
    awk '/^VmHWM:/ { print $2 }' "/proc/$daemon_pid/status"
}

# Reset the daemon's peak resident memory (VmHWM) to its current value.
reset_peak() {
    echo 5 >"/proc/$daemon_pid/clear_refs"
}

section_start=$(date +%s%N)
section_name=setup
times=()
section() {
    local now
    now=$(date +%s%N)
    times+=("$section_name: $(((now - section_start) / 1000000)) ms")
    section_name=$1
    section_start=$now
    echo "# $1"
}

# ---- apps and policy ----------------------------------------------------

"$CASHSTORY" key generate --out pub >/dev/null

# make_app NAME BUS: an app whose manifest requests the bus permissions BUS
# (a JSON object). Its main.js never runs: the native client replaces the host.
make_app() {
    mkdir -p "apps/$1"
    cat >"apps/$1/cashstory.json" <<JSON
{ "id": "com.example.robust.$1", "name": "Robust $1", "version": "1.0.0", "main": "main.js",
  "permissions": { "bus": $2 } }
JSON
    echo '// The bus_client test program runs in place of the JavaScript host.' >"apps/$1/main.js"
    "$CASHSTORY" pack "apps/$1" --key pub.key --out "$1.csa" >/dev/null &&
        "$CASHSTORY" install "$1.csa" --trusted-key pub.pub >/dev/null ||
        fail "install app $1"
}

make_app listener '{ "subscribe": ["robust/*"] }'
make_app talker '{ "publish": ["robust/*", "all/*"] }'
make_app hostile '{ "publish": ["robust/*"], "subscribe": ["robust/*"] }'
make_app sleeper '{ "subscribe": ["robust/*"] }'
make_app member '{ "subscribe": ["all/*"] }'
make_app twin '{ "subscribe": ["robust/*"] }'
make_app responder '{ "subscribe": ["robust/*"] }'

# Small limits, because 50 members run at once. A member is the sandbox's init
# and the client, which allocate under 1 MiB of their own in a release build.
# The init is a copy of the daemon, and the daemon pages it copies on write
# count against the app's memory cgroup. In a sanitizer build the daemon's
# heap grows to hundreds of MiB (ASan's quarantine), so a 64 MiB limit ends
# some members at once there.
member_memory_mb=64
other_memory_mb=256
if [ "$sanitizer_build" = 1 ]; then
    member_memory_mb=2048
    other_memory_mb=2048
fi
cat >policy.json <<JSON
{
  "defaults": {
    "bus": { "publish": ["*", "*/*", "*/*/*"], "subscribe": ["*", "*/*", "*/*/*"] },
    "limits": { "memory_mb": $other_memory_mb, "processes": 16 }
  },
  "apps": {
    "com.example.robust.member": { "limits": { "memory_mb": $member_memory_mb, "processes": 4 } }
  }
}
JSON

start_daemon

# ---- 1. malformed frames ------------------------------------------------
section "1. malformed frames close only the sender's connection"

start_client listener subscribe:'robust/*' expect:1:30 expect-none:0.5
listener_log=$log
expect_line "listener subscribed" "$listener_log" '^subscribed robust/\*'

declare -A reason=(
    [garbage]='bus frame: bad magic bytes 0xff'
    [version]='bus frame: version 2 is not supported'
    [reserved]='bus frame: reserved fields are not zero'
    [flags]='bus frame: reserved fields are not zero'
    [unknown-type]='bus frame: unknown type 99'
    [broker-type]='it sent a frame type that only the broker sends'
    [oversized]='bus frame: payload of 1048577 bytes exceeds 1048576'
    [meta-oversized]='bus frame: meta field of 4097 bytes exceeds 4096'
    [topic-oversized]='bus frame: topic of 257 bytes exceeds 256'
    [topic-utf8]='bus frame: topic is not UTF-8 text'
)
declare -A bad_instance bad_log
for kind in "${!reason[@]}"; do
    start_client hostile malformed:"$kind"
    bad_instance[$kind]=$instance
    bad_log[$kind]=$log
done
# Garbage after a valid frame on the same connection.
start_client hostile subscribe:robust/valid malformed:garbage
after_valid=$instance
after_valid_log=$log
# Half a frame, then the app closes its socket.
start_client hostile half-frame:5000 close sleep:0.3
truncated=$instance
truncated_log=$log

for kind in "${!reason[@]}"; do
    expect_line "malformed $kind: connection closed" "${bad_log[$kind]}" \
        "^malformed $kind: the broker closed the connection"
    expect_text "malformed $kind: reason logged" daemon.log \
        "$(closed_line hostile "${bad_instance[$kind]}" "${reason[$kind]}")" 2
done
expect_line "garbage after valid frame: frame handled" "$after_valid_log" '^subscribed robust/valid'
expect_line "garbage after valid frame: connection closed" "$after_valid_log" \
    '^malformed garbage: the broker closed the connection'
expect_text "truncated frame: close logged" daemon.log \
    "$(closed_line hostile "$truncated" 'the app closed its end')" 5
expect_line "truncated frame: client done" "$truncated_log" '^done: 0 failures'

start_client talker publish:robust/alive:1:32
talker=$instance
expect_line "listener served after malformed frames" "$listener_log" \
    '^expect: received 1 deliveries' 10
expect_line "listener gets no malformed frame" "$listener_log" '^expect-none: no delivery' 5
expect_true "listener gets exactly one message" \
    "deliver lines: $(grep -c '^deliver ' "$listener_log"), expected 1 from $talker" \
    [ "$(grep -c '^deliver ' "$listener_log")" = 1 ]
expect_line "delivery names the talker" "$listener_log" \
    "^deliver robust/alive from com.example.robust.talker instance $talker "
expect_true "daemon still running" "pid $daemon_pid is gone" kill -0 "$daemon_pid"

# ---- 2. forged identities -----------------------------------------------
section "2. forged identities do not reach the receiver"

start_client listener subscribe:robust/forge count:2
receiver_log=$log
expect_line "forge receiver subscribed" "$receiver_log" '^subscribed robust/forge'
start_client hostile forge:robust/forge:com.example.robust.listener
forger=$instance
forger_log=$log
expect_line "forger done" "$forger_log" '^done: 0 failures' 15
expect_line "receiver done" "$receiver_log" '^count: received' 10

accepted=$(grep -c '^forge .*: acknowledged$' "$forger_log")
delivered=$(grep -c '^deliver ' "$receiver_log")
echo "# forge: $accepted of 6 forged frames accepted, $delivered delivered"
grep '^forge ' "$forger_log" | sed 's/^/#   /'
expect_true "one delivery per forged frame" \
    "$accepted accepted, $delivered delivered" [ "$accepted" = "$delivered" ]
expect_true "forged frames delivered" "none was" [ "$delivered" -gt 0 ]
forger_meta=$(grep -m1 '^  meta ' "$forger_log")
receiver_metas=$(grep -A1 '^deliver ' "$receiver_log" | grep '^  meta ' | sort -u)
expect_true "receiver sees forger's real identity" \
    "forger: $forger_meta; receiver saw: $receiver_metas" [ "$receiver_metas" = "$forger_meta" ]
expect_true "every delivery names the forger" "$(grep '^deliver ' "$receiver_log" | head -3)" \
    [ "$(grep -c "^deliver robust/forge from com.example.robust.hostile instance $forger version 1.0.0 verified true:" "$receiver_log")" = "$delivered" ]
expect_no_line "claimed identity never shown" "$receiver_log" \
    '^deliver .* from com\.example\.trusted|^  meta .*"appId":"com\.example\.trusted"'

# ---- 3. a receiver that never reads -------------------------------------
section "3. a receiver that never reads"

start_client sleeper subscribe:robust/big sleep:15
stuck=$instance
stuck_log=$log
start_client listener subscribe:robust/big quiet expect:200:30
reader_log=$log
expect_line "stuck receiver subscribed" "$stuck_log" '^subscribed robust/big'
expect_line "reader subscribed" "$reader_log" '^subscribed robust/big'

reset_peak
base_kib=$(rss_kib)
start_client talker publish:robust/big:200:262144:10
publisher_log=$log
expect_line "publisher finished" "$publisher_log" '^published ' 30
peak=$(peak_kib)
read -r sent acks eagain others longest total < <(sed -nE \
    's/^published ([0-9]+) messages .*: ([0-9]+) acknowledged, ([0-9]+) EAGAIN, ([0-9]+) other errors; longest write ([0-9]+) ms; ([0-9]+) ms in all/\1 \2 \3 \4 \5 \6/p' \
    "$publisher_log")
echo "# never-read: ${sent:-?} messages of 256 KiB, ${acks:-?} acknowledged, ${eagain:-?} EAGAIN;" \
    "longest write ${longest:-?} ms, ${total:-?} ms in all; daemon resident memory $base_kib KiB, peak $peak KiB"
expect_true "publisher gets EAGAIN" "EAGAIN count '${eagain:-}'" \
    [ "${eagain:-0}" -gt 0 ]
expect_true "publisher gets no other errors" "other errors '${others:-}'" [ "${others:-1}" = 0 ]
expect_true "publisher never blocked" "longest write '${longest:-}' ms, limit 1000 ms" \
    [ "${longest:-99999}" -lt 1000 ]
expect_line "reader receives all 200 messages" "$reader_log" '^expect: received 200 deliveries' 20
expect_true "stuck receiver stays connected" "state '$(instance_field "$stuck" state)'" \
    [ "$(instance_field "$stuck" state)" = running ]
expect_no_line "stuck receiver not disconnected" daemon.log \
    "closed the bus connection of com\.example\.robust\.sleeper \($stuck\)"
# The two receivers' queues hold at most 4 MiB each, the publisher's frame
# reader at most 2 MiB and a frame being decoded 256 KiB, about 10.5 MiB in
# all. 16 MiB leaves room for allocator slack and still fails when the stuck
# receiver's 50 MiB (200 x 256 KiB) were kept.
if [ "$sanitizer_build" = 0 ]; then
    expect_true "stuck receiver: daemon memory bounded" \
        "peak $peak KiB - start $base_kib KiB exceeds 16 MiB" [ $((peak - base_kib)) -lt 16384 ]
else
    skip "stuck receiver: daemon memory bounded" "sanitizer build"
fi
cs stop com.example.robust.sleeper >/dev/null

# ---- 4. floods -----------------------------------------------------------
section "4. floods"

start_client listener subscribe:robust/flood quiet count:6
flood_rx_log=$log
start_client twin subscribe:robust/ping expect:20:20
control_rx_log=$log
expect_line "flood receiver subscribed" "$flood_rx_log" '^subscribed robust/flood'
expect_line "control receiver subscribed" "$control_rx_log" '^subscribed robust/ping'
start_client hostile flood:robust/flood:3:1024
flooder=$instance
flooder_log=$log
start_client talker publish:robust/ping:20:64:100
control_tx_log=$log
expect_line "flooder finished" "$flooder_log" '^flooded ' 30
expect_line "control messages delivered during flood" "$control_rx_log" \
    '^expect: received 20 deliveries' 25
expect_line "control messages all acknowledged" "$control_tx_log" \
    '^published 20 messages .*: 20 acknowledged, 0 EAGAIN, 0 other errors'
expect_line "flood receiver finished" "$flood_rx_log" '^count: received' 10
echo "# flood: $(grep '^flooded ' "$flooder_log")"
echo "# flood: the subscriber $(grep '^count: ' "$flood_rx_log" | sed 's/^count: //')"
expect_line "flooder gets only EAGAIN errors" "$flooder_log" '^flooded .* 0 other errors'
# The flooder's connection may only close because the flooder ended.
flooder_closes=$(grep -F "$(closed_line hostile "$flooder" '')" daemon.log |
    grep -Ev ': (the app closed its end|the app stopped)$')
expect_true "flooder stays connected" "$flooder_closes" [ -z "$flooder_closes" ]

# A flood that never reads its replies: the broker must close it once 8 MiB
# of replies wait, and hold about that much memory for it until then.
reset_peak
base_kib=$(rss_kib)
start_client hostile spam:robust/nobody:400000
spammer=$instance
expect_line "non-reading flooder disconnected" "$log" '^spam: the broker closed the connection' 20
expect_text "non-reading flooder: reason logged" daemon.log \
    "$(closed_line hostile "$spammer" 'its queue is full because it does not read')" 5
peak=$(peak_kib)
echo "# non-reading flood: $(grep '^spam: wrote' "$log"); daemon resident memory $base_kib KiB, peak $peak KiB"
# The queue limit is 8 MiB of frames. 24 MiB allows three times that for
# bookkeeping and allocator slack.
if [ "$sanitizer_build" = 0 ]; then
    expect_true "non-reading flooder: daemon memory bounded" \
        "peak $peak KiB - start $base_kib KiB = $(((peak - base_kib) / 1024)) MiB, limit 24 MiB" \
        [ $((peak - base_kib)) -lt 24576 ]
else
    skip "non-reading flooder: daemon memory bounded" "sanitizer build"
fi

# Requests to an app that reads them but never responds: the broker keeps at
# most 1024 pending requests per connection and replies to the rest with EAGAIN,
# so the rounds stop after 10 s with few requests acknowledged.
start_client responder quiet count:40
responder_log=$log
flood_round1='request-flood:com.example.robust.responder:robust/req:100000:10'
flood_round2='request-flood:com.example.robust.responder:robust/req:300000:10'
base_kib=$(rss_kib)
start_client hostile "$flood_round1" sleep:1 "$flood_round2" sleep:30
requester_log=$log
expect_line "request flood: first round" "$requester_log" '^sent [0-9]+ requests' 30
sleep 0.5
round1_kib=$(rss_kib)
wait_for 30 eval '[ "$(grep -c "^sent [0-9]* requests" "$requester_log")" -ge 2 ]'
sleep 0.5
round2_kib=$(rss_kib)
grep '^sent [0-9]* requests' "$requester_log" | sed 's/^/# request flood: /'
echo "# request flood: daemon resident memory $base_kib KiB, $round1_kib KiB after round 1, $round2_kib KiB after round 2"
round1_pending=$(grep '^sent [0-9]* requests' "$requester_log" | sed -n '1s/.*: \([0-9]*\) acknowledged.*/\1/p')
expect_true "request flood: pending requests capped at 1024" \
    "${round1_pending:-no} requests acknowledged" [ "${round1_pending:-0}" -le 1024 ]
if [ "$sanitizer_build" = 0 ]; then
    expect_true "unanswered requests: daemon memory bounded" \
        "grew $(((round2_kib - round1_kib) / 1024)) MiB in the second round, limit 4 MiB" \
        [ $((round2_kib - round1_kib)) -lt 4096 ]
else
    skip "unanswered requests: daemon memory bounded" "sanitizer build"
fi
cs stop com.example.robust.hostile >/dev/null
cs stop com.example.robust.responder >/dev/null
expect_true "daemon survives the floods" "pid $daemon_pid is gone" kill -0 "$daemon_pid"

# ---- 5. 50 apps at once -------------------------------------------------
section "5. 50 apps at once"

wait_for 20 no_app_running
member_logs=()
member_instances=()
for _ in $(seq 1 50); do
    start_client member subscribe:all/ping expect:1:40 || break
    member_logs+=("$log")
    member_instances+=("$instance")
done
subscribed_count() {
    cat "${member_logs[@]}" 2>/dev/null | grep -c '^subscribed all/ping'
}
wait_for 20 eval '[ "$(subscribed_count)" = 50 ]'
expect_true "50 members subscribed" "$(subscribed_count) subscribed" [ "$(subscribed_count)" = 50 ]
expect_true "50 distinct instance ids" "$(printf '%s\n' "${member_instances[@]}" | sort -u | wc -l) distinct" \
    [ "$(printf '%s\n' "${member_instances[@]}" | sort -u | wc -l)" = 50 ]
run 0 "ps with 50 members" cs ps
expect_true "ps lists 50 running members" \
    "$(grep -c 'com\.example\.robust\.member .* running ' <<<"$out") running lines" \
    [ "$(grep -c 'com\.example\.robust\.member .* running ' <<<"$out")" = 50 ]
# Show why a member is not running.
stopped_members=$(cs ps --json | python3 -c '
import json, sys
for app in json.load(sys.stdin):
    if app["app"] == "com.example.robust.member" and app["state"] != "running":
        print(app["instance"], app["state"], app.get("exit_status", ""))
')
while read -r member state status; do
    [ -n "$member" ] || continue
    echo "# member $member: state $state, exit status $status"
    grep -F "$member" daemon.log | sed 's/^/#   /'
    tail -5 "$data/com.example.robust.member/$member.log" 2>/dev/null | sed 's/^/#   /'
done <<<"$stopped_members"
member_memory=$(cs ps --json | python3 -c '
import json, sys
m = [a["memory_bytes"] for a in json.load(sys.stdin) if a["app"] == "com.example.robust.member" and a["state"] == "running"]
print("%.1f MiB on average, %.1f MiB at most" % (sum(m) / len(m) / 1048576, max(m) / 1048576) if m else "unknown")')
first_sandbox=$(instance_field "${member_instances[0]}" pid)
private_kib=0
for pid in "$first_sandbox" $(pgrep -P "$first_sandbox"); do
    private_kib=$((private_kib + $(awk '/^Private_(Clean|Dirty):/ { sum += $2 } END { print sum + 0 }' \
        "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)))
done
echo "# 50 members: ps reports $member_memory per sandbox, which counts the daemon pages" \
    "that each sandbox's init shares; one sandbox's private memory is $private_kib KiB"
expected_peers=$(($(running_count) + 1))

start_client talker peers publish:all/ping:1:64
talker=$instance
talker_log=$log
expect_line "publish to 50 members acknowledged" "$talker_log" \
    '^published 1 messages .*: 1 acknowledged, 0 EAGAIN, 0 other errors' 10
expect_line "peers lists every app" "$talker_log" "^peers: $expected_peers apps connected"
received_count() {
    cat "${member_logs[@]}" 2>/dev/null | grep -c '^expect: received 1 deliveries'
}
wait_for 15 eval '[ "$(received_count)" = 50 ]'
expect_true "all 50 members receive it" "$(received_count) of 50" [ "$(received_count)" = 50 ]
from_talker=$(cat "${member_logs[@]}" | grep -c "^deliver all/ping from com\.example\.robust\.talker instance $talker ")
expect_true "members see the talker as sender" "$from_talker of 50" [ "$from_talker" = 50 ]

# ---- 6. kill -9 of an app in the middle of a frame ----------------------
section "6. kill -9 of an app in the middle of a frame"

wait_for 20 no_app_running
start_client listener subscribe:robust/after expect:1:20
bystander=$instance
bystander_log=$log
start_client hostile half-frame:1000000 sleep:30
writer=$instance
writer_sandbox=$sandbox_pid
expect_line "bystander subscribed" "$bystander_log" '^subscribed robust/after'
expect_line "writer sent half a frame" "$log" '^half-frame: wrote 500'
# The client is the only child of the sandbox's init.
writer_pid=$(pgrep -P "$writer_sandbox")
expect_true "writer process found" "no child of sandbox pid $writer_sandbox" [ -n "$writer_pid" ]
kill -9 "$writer_pid"
wait_for 10 instance_exited "$writer"
expect_true "killed app: ps shows status 137" \
    "state $(instance_field "$writer" state), exit status $(instance_field "$writer" exit_status)" \
    [ "$(instance_field "$writer" exit_status)" = 137 ]
expect_line "killed app: close logged" daemon.log \
    "closed the bus connection of com\.example\.robust\.hostile \($writer\): " 5
expect_line "killed app: exit logged" daemon.log \
    "com\.example\.robust\.hostile \(instance $writer\) exited with status 137" 5
expect_true "bystander still running" "state $(instance_field "$bystander" state)" \
    [ "$(instance_field "$bystander" state)" = running ]
start_client talker publish:robust/after:1:32
expect_line "bystander still served" "$bystander_log" '^expect: received 1 deliveries' 10

# The same with the sandbox's init killed, so that the daemon's wait status
# reports signal 9.
start_client hostile half-frame:1000000 sleep:30
writer=$instance
expect_line "second writer sent half a frame" "$log" '^half-frame: wrote 500'
kill -9 "$sandbox_pid"
wait_for 10 instance_exited "$writer"
expect_true "killed sandbox: ps shows status 137" \
    "exit status $(instance_field "$writer" exit_status)" \
    [ "$(instance_field "$writer" exit_status)" = 137 ]
expect_line "killed sandbox: signal logged" daemon.log \
    "com\.example\.robust\.hostile \(instance $writer\) was ended by signal 9" 5

# ---- 7. kill -9 of the daemon -------------------------------------------
section "7. kill -9 of the daemon"

token="robust-$$-$RANDOM"
start_client listener note:"$token" subscribe:robust/x sleep:30
expect_line "first app subscribed" "$log" '^subscribed robust/x'
start_client hostile note:"$token" half-frame:100000 sleep:30
expect_line "second app wrote half a frame" "$log" '^half-frame: wrote'
kill -9 "$daemon_pid"
wait "$daemon_pid" 2>/dev/null
daemon_pid=
# A sandbox's init is a copy of the daemon, so it has the daemon's command
# line; the clients carry the token.
sandbox_left() {
    pgrep -f -- "cashstoryd --socket $socket" >/dev/null || pgrep -f -- "note:$token" >/dev/null
}
wait_for 5 eval '! sandbox_left'
expect_true "no sandbox left after kill -9" \
    "still running: $(pgrep -af -- "note:$token|cashstoryd --socket $socket" | tr '\n' ';')" \
    eval '! sandbox_left'
expect_true "stale socket left behind" "$socket is missing" [ -S "$socket" ]
start_daemon
pass "new daemon on stale socket"
start_client listener subscribe:robust/new expect:1:20
new_rx_log=$log
expect_line "new daemon: app subscribed" "$new_rx_log" '^subscribed robust/new'
start_client talker publish:robust/new:1:32
expect_line "new daemon serves new apps" "$new_rx_log" '^expect: received 1 deliveries' 10

# ---- 8. two instances of one app ----------------------------------------
section "8. two instances of one app"

start_client twin subscribe:robust/twin expect:1:20 expect-none:0.5
first=$instance
first_log=$log
start_client twin subscribe:robust/twin expect:1:20 expect-none:0.5
second=$instance
second_log=$log
expect_true "two instances have distinct ids" "both are $first" [ "$first" != "$second" ]
expect_line "first instance subscribed" "$first_log" '^subscribed robust/twin'
expect_line "second instance subscribed" "$second_log" '^subscribed robust/twin'
start_client talker publish:robust/twin:1:32
expect_line "publish to twins acknowledged" "$log" '^published 1 messages .*: 1 acknowledged'
for twin_log in "$first_log" "$second_log"; do
    name="instance $(basename "$twin_log" .log | cut -c1-8)"
    expect_line "$name receives its copy" "$twin_log" '^expect: received 1 deliveries' 10
    expect_line "$name receives exactly one copy" "$twin_log" '^expect-none: no delivery' 5
done

# ---- 9. responder leaves while the requester's queue is nearly full -----
section "9. responder leaves while the requester's queue is nearly full"

# The requester sends a request to the responder, then one to itself, and
# fills the broker's queue for its own connection to within one ACK of the
# limit. When the responder disconnects, the broker sends the requester an
# ECONNRESET error for the pending request. That error passes the limit, so
# the broker closes the requester while it is still walking its list of
# pending requests.
wait_for 25 no_app_running
start_client responder sleep:30
responder_sandbox=$sandbox_pid
start_client hostile request:com.example.robust.responder:robust/req \
    request:com.example.robust.hostile:robust/req fill-queue:robust/nobody sleep:30
requester=$instance
expect_line "requester filled its queue" "$log" '^fill-queue: the broker queues' 20
kill -9 "$(pgrep -P "$responder_sandbox")"
sleep 1
expect_true "daemon survives the responder leaving" "pid $daemon_pid is gone" kill -0 "$daemon_pid"
run 0 "daemon still answers ps" cs ps
expect_line "full requester disconnected" daemon.log \
    "closed the bus connection of com\.example\.robust\.hostile \($requester\): its queue is full" 5

# ---- end ----------------------------------------------------------------
section "end"

if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid"
    wait "$daemon_pid"
    status=$?
    daemon_pid=
    expect_true "daemon stopped cleanly" "exit status $status" [ "$status" = 0 ]
fi
expect_no_line "no sanitizer report" daemon.log \
    'AddressSanitizer|LeakSanitizer|runtime error:'
for line in "${times[@]}"; do
    echo "# time: $line"
done
if [ "$tests_failed" -gt 0 ]; then
    echo "# daemon log (last 40 lines):"
    tail -40 daemon.log | sed 's/^/#   /'
fi

finish
