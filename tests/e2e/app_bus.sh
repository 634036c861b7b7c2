# cashstory.bus in the app host. The test signs and installs the app in
# tests/bus/app and runs each of its scenarios against the fake broker in
# tests/bus/fake_broker.py, which gives the host one end of a socket pair
# with --bus-fd. It checks the app's output and the frames the broker got.
source "$(dirname "$0")/lib.sh"

APP_HOST=${CASHSTORY_APP:-${CS_BUILD_DIR:-$(dirname "$CASHSTORY")}/src/app/cashstory-app}
if [ ! -x "$APP_HOST" ]; then
    fail "cashstory-app not found at $APP_HOST; build it or set CASHSTORY_APP"
    finish
fi
BROKER="$CS_SOURCE_DIR/tests/bus/fake_broker.py"
FRAMES="$CS_TMP/frames.jsonl"

# Sanitizer builds: see tests/e2e/app_host.sh.
export LSAN_OPTIONS="suppressions=$CS_SOURCE_DIR/src/app/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"




# expect_clean NAME: fail when the last output has a sanitizer or crash report.
expect_clean() {
    if printf '%s\n' "$out" | grep -Eq 'Sanitizer|runtime error:|Segmentation fault|core dumped|fake broker:|Traceback'; then
        fail "$1: sanitizer, crash or broker failure in the output"
        printf '%s\n' "$out" | sed 's/^/    /'
    fi
}

# expect_frame NAME EXPR [COUNT]: check the frames of the last run with
# tests/bus/frames.py (at least one, or exactly COUNT, match EXPR).
expect_frame() {
    local result
    if result=$(python3 "$CS_SOURCE_DIR/tests/bus/frames.py" "$FRAMES" "$2" ${3:+--count "$3"} 2>&1); then
        pass "$1"
    else
        fail "$1"
        printf '%s\n' "$result" | sed 's/^/    /'
    fi
}

# bus_run STATUS NAME [BROKER_OPTIONS...] -- SCENARIO [ARGS...]: run one
# scenario of the installed test app under the fake broker.
bus_run() {
    local status=$1 name=$2
    shift 2
    local broker_options=()
    while [ "$1" != "--" ]; do
        broker_options+=("$1")
        shift
    done
    shift
    : >"$FRAMES"
    run "$status" "$name" timeout 60 python3 "$BROKER" "${broker_options[@]}" --log "$FRAMES" -- \
        "$APP_HOST" --app "$APP" --index-sha256 "$INDEX_SHA256" --bus-fd @BUS_FD@ -- "$@"
    expect_clean "$name"
}

# ---- Pack and install the test app --------------------------------------------

cashstory key generate --out publisher >/dev/null
run 0 "pack tests/bus/app" cashstory pack "$CS_SOURCE_DIR/tests/bus/app" --key publisher.key \
    --out bustest.csa
run 0 "install tests/bus/app" cashstory install bustest.csa --trusted-key publisher.pub
APP="$CASHSTORY_STORE/apps/com.example.bustest/current"
INDEX_SHA256=$(sha256sum "$APP/.cashstory/index.json" | cut -d' ' -f1)

# ---- publish ------------------------------------------------------------------------

bus_run 0 "publish scenario runs" -- publish
expect_line "self is null before WELCOME" "self before WELCOME: null"
expect_line "ready resolves with the frozen identity from WELCOME" \
    "ready: com.example.bustest true frozen true true"
expect_line "publish resolves on ACK" "publish ok: resolved undefined"
expect_line "publish rejects on ERROR with its code and topic" \
    "publish denied: Error EACCES: cashstory.bus.publish on 'denied/secret' failed: EACCES: com.example.bustest may not publish on denied/secret"
expect_line "the publish error has a topic field" "denied error fields: true denied/secret"
expect_frame "PUBLISH frame: topic and JSON payload" \
    "f['dir'] == 'app' and f['type'] == 'PUBLISH' and f['topic'] == 'news/today' and data == {'n': 1, 'text': 'héllo'}"
expect_frame "PUBLISH frames never carry meta" "f['type'] == 'PUBLISH' and f['meta'] != ''" 0
expect_frame "extra publish arguments set nothing" \
    "f['topic'] == 'news/extra-arguments' and f['meta'] == '' and f['payload'] == '\"data\"'" 1
expect_frame "undefined is sent as null" "f['topic'] == 'news/undefined' and f['payload'] == 'null'" 1
expect_frame "a function is sent as null" "f['topic'] == 'news/function' and f['payload'] == 'null'" 1
expect_frame "undefined, functions and symbols are dropped inside objects" \
    "f['topic'] == 'news/fields' and f['payload'] == '{\"keep\":1}'" 1
expect_line "a BigInt throws a TypeError" \
    "bigint: TypeError ERR_INVALID_ARG_VALUE: cashstory.bus.publish: the data cannot be sent as JSON: JSON.stringify cannot serialize BigInt."
expect_line "a cycle throws a TypeError" \
    "cycle: TypeError ERR_INVALID_ARG_VALUE: cashstory.bus.publish: the data cannot be sent as JSON: JSON.stringify cannot serialize cyclic structures."
expect_line "publish rejects a wildcard topic" \
    "wildcard topic: TypeError ERR_INVALID_ARG_VALUE: cashstory.bus.publish: invalid topic 'news/*': '*' is allowed only in the patterns of subscribe and respond"
expect_line "publish rejects an empty segment" \
    "empty segment: TypeError ERR_INVALID_ARG_VALUE: cashstory.bus.publish: invalid topic 'news//x': it has an empty segment ('//')"
expect_line "publish rejects a space in a topic" \
    "bad character: TypeError ERR_INVALID_ARG_VALUE: cashstory.bus.publish: invalid topic 'news/a b': segments may only contain letters, digits, '.', '_' and '-'"
expect_line "publish rejects a topic that is not a string" \
    "not a string: TypeError ERR_INVALID_ARG_TYPE: cashstory.bus.publish: the topic must be a string"
expect_output "publish rejects a topic over 256 bytes" \
    "^too long topic: TypeError ERR_INVALID_ARG_VALUE: cashstory.bus.publish: invalid topic 't{80}\.\.\.': it is longer than 256 bytes$"
expect_line "publish rejects data over 1 MiB" \
    "too large: RangeError EMSGSIZE: cashstory.bus.publish: the data is 1048578 bytes as JSON, more than the limit of 1048576 bytes"
expect_frame "rejected data sends no frame" "f['type'] == 'PUBLISH' and f['topic'] == 'news/x'" 0
expect_line "the largest payload is acknowledged" "largest payload: resolved undefined"
big_sha256=$(python3 -c 'import hashlib, json; print(hashlib.sha256(json.dumps("y" * (1024 * 1024 - 2)).encode()).hexdigest())')
expect_frame "the largest payload arrives whole" \
    "f['topic'] == 'news/big' and f['payload_len'] == 1048576 and f['payload_sha256'] == '$big_sha256'" 1
expect_line "publish scenario ends" "publish done"

# ---- subscribe --------------------------------------------------------------------

bus_run 0 "subscribe scenario runs" -- subscribe
expect_frame "SUBSCRIBE frame names the pattern" "f['type'] == 'SUBSCRIBE' and f['topic'] == 'chat/*'" 2
expect_line "DELIVER reaches the handler, with the broker's sender" \
    'first handler: chat/general {"text":"hi","sender":{"appId":"com.example.forged"}} from com.example.bustest'
expect_line "the message and its sender are frozen" "first handler: frozen true true true"
expect_line "a handler cannot change the sender" \
    "change sender: TypeError undefined: Attempted to assign to readonly property."
expect_line "the next handler sees the original data and sender" \
    'second handler: chat/general {"text":"hi","sender":{"appId":"com.example.forged"}} from com.example.bustest'
expect_frame "unsubscribe sends UNSUBSCRIBE once, with the subscription id" \
    "f['type'] == 'UNSUBSCRIBE' and f['id'] == 2" 1
expect_count "an unsubscribed handler gets nothing more" 1 "^first handler: chat/"
expect_line "other subscriptions still get messages" "second handler: chat/after-unsubscribe 2 from com.example.bustest"
expect_line "a message on another subscription" "news handler: news/flash 3"
expect_line "a payload that is not JSON arrives as undefined" \
    "invalid payload: odd/text data undefined from com.example.other"
expect_count "a payload that is not JSON is reported once" 1 \
    "^cashstory-app: warning: cashstory.bus: the data of a message on 'odd/text' from com.example.other is not valid JSON; the app receives data: undefined$"
expect_absent "the raw text of an invalid payload is dropped" "RAW-NOT-JSON"
expect_line "a payload that is not UTF-8 arrives as undefined" \
    "invalid payload: odd/bytes data undefined from com.example.other"
expect_count "a payload that is not UTF-8 is reported once" 1 \
    "^cashstory-app: warning: cashstory.bus: the data of a message on 'odd/bytes' from com.example.other is not valid JSON; the app receives data: undefined$"
expect_line "a 1 MiB delivery arrives whole" "large delivery: 1048574 characters"
expect_line "a rejected subscription without onerror is a warning that names it" \
    "cashstory-app: warning: cashstory.bus.subscribe to 'denied/room' failed: EACCES: com.example.bustest may not subscribe to denied/room"
expect_line "a rejected subscription goes to onerror" \
    "onerror: EACCES denied/other: cashstory.bus.subscribe to 'denied/other' failed: EACCES: com.example.bustest may not subscribe to denied/other"
expect_absent "a rejected subscription's handler never runs" "NEVER"
expect_line "subscribe rejects a partial wildcard" \
    "bad pattern: TypeError ERR_INVALID_ARG_VALUE: cashstory.bus.subscribe: invalid topic pattern 'chat/x*': '*' must be a whole segment, as in 'quotes/*'"
expect_line "subscribe needs a handler" \
    "no handler: TypeError ERR_INVALID_ARG_TYPE: cashstory.bus.subscribe: the handler must be a function"
expect_line "a subscription keeps the app alive for a later message" "tick: tick/1"
expect_frame "the app unsubscribed everything before it ended" \
    "f['type'] == 'UNSUBSCRIBE'" 6

bus_run 1 "an exception in a handler ends the app with status 1" -- handler-throws
expect_line "handler exception: the message" \
    "cashstory-app: uncaught exception: Error: handler failed on chat/boom"
expect_output "handler exception: the stack names the handler" \
    "^    at onChat \(/app/scenarios/handler-throws\.js:7:[0-9]+\)$"

# ---- send ----------------------------------------------------------------------------

bus_run 0 "send scenario runs" -- send
expect_line "send resolves on ACK" "send to self: resolved undefined"
expect_frame "SEND frame: meta is the target app id" \
    "f['type'] == 'SEND' and f['meta'] == 'com.example.bustest' and f['topic'] == 'direct/one' and data == {'n': 1}"
expect_line "without onmessage, a SEND goes to matching subscriptions" \
    'subscription handler: direct/one {"n":1} from com.example.bustest'
expect_line "with onmessage, a SEND goes to onmessage" 'onmessage: direct/two {"n":2} from com.example.bustest'
expect_count "with onmessage, subscriptions do not get the SEND" 0 "^subscription handler: direct/two"
expect_line "a SEND nobody handles is a warning" \
    "cashstory-app: warning: cashstory.bus: dropped a message on 'nobody/three' from com.example.bustest: no onmessage handler and no subscription matches its topic"
expect_line "send to another app" "send to another app: resolved undefined"
expect_line "send rejects on ERROR" \
    "send to a missing app: Error ENOENT: cashstory.bus.send to com.example.missing on 'x/y' failed: ENOENT: no app com.example.missing is connected"
expect_line "send checks the app id" \
    "invalid app id: TypeError ERR_INVALID_ARG_VALUE: cashstory.bus.send: invalid target app id: app id 'Not An Id' must be lowercase"
expect_line "send needs a string app id" \
    "app id not a string: TypeError ERR_INVALID_ARG_TYPE: cashstory.bus.send: the app id must be a string"
expect_line "onmessage must be a function" \
    "onmessage not a function: TypeError ERR_INVALID_ARG_TYPE: cashstory.bus.onmessage must be a function or null"
expect_line "cashstory.bus is frozen" \
    "cashstory.bus is frozen: true TypeError undefined: Attempted to assign to readonly property."
expect_line "cashstory.bus has only the documented members" \
    "own properties: publish,subscribe,send,request,respond,peers,self,ready,onmessage,onpeer,onerror"

# ---- request and respond ------------------------------------------------------------------

bus_run 0 "request scenario runs" -- request
expect_frame "REQUEST frame: meta is the target, id the app's request id" \
    "f['type'] == 'REQUEST' and f['meta'] == 'com.example.bustest' and f['topic'] == 'math/add' and f['id'] == 1 and data == {'a': 2, 'b': 3}"
expect_line "the respond handler gets the request and its sender" \
    'respond math/add: {"a":2,"b":3} from com.example.bustest'
expect_line "request resolves with {data, sender, topic}, frozen" \
    "request math/add: 5 from com.example.bustest on math/add frozen true true"
expect_frame "RESPONSE: meta is the broker's request id, exact above 2^53" \
    "f['type'] == 'RESPONSE' and f['meta'] == '1152921504606846981' and data == {'result': 5}" 1
expect_line "the first matching respond handler answers, after its promise" \
    'request math/slow: {"topic":"math/slow","answer":"later"} from com.example.bustest on math/slow frozen true true'
expect_line "a thrown error rejects the request with its message" \
    "request fail/throw: Error ERR_BUS_RESPONDER: the responder failed"
expect_frame "a thrown error is sent as {error}" \
    "f['type'] == 'RESPONSE' and data == {'error': 'the responder failed'}" 1
expect_line "a rejection keeps its code" "request fail/reject: Error EPERM: permission to compute refused"
expect_line "a result that looks like an error is data" \
    'request fail/looks-like-error: {"error":"only data"} from com.example.bustest on fail/looks-like-error frozen true true'
expect_line "an undefined result is null" \
    "request fail/undefined: null from com.example.bustest on fail/undefined frozen true true"
expect_line "a result that is not JSON rejects the request" \
    "request fail/bigint: Error ERR_INVALID_ARG_VALUE: the result cannot be sent as JSON: JSON.stringify cannot serialize BigInt."
expect_line "a result that is not JSON is a warning for the responder" \
    "cashstory-app: warning: cashstory.bus.respond: the result for 'fail/bigint' cannot be sent as JSON: JSON.stringify cannot serialize BigInt."
expect_line "a request without a respond handler is answered with an error" \
    "request without responder: Error ERR_BUS_NO_HANDLER: com.example.bustest has no respond handler for 'nobody/x'"
expect_line "a request times out with ETIMEDOUT" \
    "request timeout: Error ETIMEDOUT: cashstory.bus.request to com.example.other on 'slow/x' timed out: no reply within 200 ms"
expect_line "the timeout is the one given" "timeout took 200 to 1500 ms: true"
expect_line "request rejects on ERROR" \
    "request to a missing app: Error ENOENT: cashstory.bus.request to com.example.missing on 'x/y' failed: ENOENT: no app com.example.missing is connected"
expect_line "a timeout of 0 is rejected" \
    "timeout 0: RangeError ERR_OUT_OF_RANGE: cashstory.bus.request: the timeout must be a number of milliseconds from 1 to 2147483647"
expect_line "a timeout must be a number" \
    "timeout text: RangeError ERR_OUT_OF_RANGE: cashstory.bus.request: the timeout must be a number of milliseconds from 1 to 2147483647"
expect_line "request options must be an object" \
    "options not an object: TypeError ERR_INVALID_ARG_TYPE: cashstory.bus.request: the options must be an object such as {timeout: 1000}"
expect_line "respond checks its pattern" \
    "respond pattern: TypeError ERR_INVALID_ARG_VALUE: cashstory.bus.respond: invalid topic pattern 'math/**': '*' must be a whole segment, as in 'quotes/*'"
expect_line "request scenario ends" "request done"

bus_run 0 "incoming scenario runs" -- incoming
expect_frame "INCOMING without a matching handler is answered with an error" \
    "f['type'] == 'RESPONSE' and f['meta'] == '1152921504606846981' and data == {'error': \"com.example.bustest has no respond handler for 'other/x'\", 'code': 'ERR_BUS_NO_HANDLER'}" 1
expect_line "INCOMING from another app reaches the respond handler" \
    'respond jobs/run: {"job":7} from com.example.other'
expect_frame "the answer goes back with the exact broker request id" \
    "f['type'] == 'RESPONSE' and f['meta'] == '1152921504606846983' and data == {'result': {'ran': 'jobs/run'}}" 1
expect_line "a request whose payload is not JSON has data undefined" \
    "respond jobs/broken: undefined from com.example.other"
expect_line "a request whose payload is not JSON is a warning" \
    "cashstory-app: warning: cashstory.bus: the data of a request on 'jobs/broken' from com.example.other is not valid JSON; the app receives data: undefined"
expect_absent "the raw text of an invalid request is dropped" "RAW-NOT-JSON"
expect_line "a respond handler keeps the app alive for a later request" 'respond later/x: "due"'
expect_frame "the later request is answered" "f['type'] == 'RESPONSE' and data == {'result': 'late answer'}" 1

# ---- peers -------------------------------------------------------------------------------------

bus_run 0 "peers scenario runs" -- peers
expect_frame "PEERS frame" "f['type'] == 'PEERS' and f['id'] == 1" 1
expect_line "peers() resolves with frozen identities" \
    "peers: com.example.bustest,com.example.other frozen true true true"
expect_line "PEER_EVENT joined reaches onpeer" "onpeer: joined com.example.other frozen true"
expect_line "onpeer keeps the app alive for a later event" "onpeer: left com.example.other frozen true"
expect_line "onpeer must be a function" \
    "onpeer not a function: TypeError ERR_INVALID_ARG_TYPE: cashstory.bus.onpeer must be a function or null"

# ---- Frames split into single bytes ---------------------------------------------------------

bus_run 0 "split scenario runs with 1-byte writes" --split -- split
expect_line "split: WELCOME read byte by byte" "split ready: com.example.bustest"
expect_line "split: DELIVER with multi-byte characters" 'split delivery: chat/split {"text":"é€𝄞"}'
expect_line "split: INCOMING and REPLY" "split reply: [1,2,3]"
expect_line "split: PEER_LIST" "split peers: 2"

# ---- The end of the connection ----------------------------------------------------------------

check_closed() {
    local case=$1 reason=$2
    bus_run 0 "$case: the app goes on" -- closed "$case"
    expect_line "$case: reported on stderr" "cashstory-app: warning: the bus connection is closed: $reason"
    expect_line "$case: onerror gets ECONNRESET" \
        "onerror: ECONNRESET: cashstory.bus: the connection to the broker is closed: $reason"
    expect_line "$case: a waiting request rejects with ECONNRESET" \
        "waiting request: Error ECONNRESET: cashstory.bus.request to com.example.other on 'slow/x' failed: the connection to the broker is closed: $reason"
    expect_line "$case: a waiting publish rejects with ECONNRESET" \
        "waiting publish: Error ECONNRESET: cashstory.bus.publish on 'silent/x' failed: the connection to the broker is closed: $reason"
    expect_line "$case: later calls reject with ECONNRESET" \
        "publish after the end: Error ECONNRESET: cashstory.bus.publish: the connection to the broker is closed: $reason"
    expect_line "$case: later subscriptions throw ECONNRESET" \
        "subscribe after the end: Error ECONNRESET: cashstory.bus.subscribe: the connection to the broker is closed: $reason"
    expect_line "$case: the app ends normally" "the app goes on"
    expect_absent "$case: no handler runs after the end" "NEVER"
}

check_closed close "the broker closed the connection"
check_closed close-mid-frame \
    "the broker closed the connection in the middle of a frame (30 bytes of it received)"
check_closed bad-magic "the broker sent an invalid frame: bus frame: bad magic bytes 0x58 0x58"
check_closed bad-version \
    "the broker sent an invalid frame: bus frame: version 7 is not supported (expected 1)"
check_closed unknown-type "the broker sent an invalid frame: bus frame: unknown type 99"
check_closed payload-too-large \
    "the broker sent an invalid frame: bus frame: payload of 1048577 bytes exceeds 1048576"
check_closed topic-not-utf8 "the broker sent an invalid frame: bus frame: topic is not UTF-8 text"
check_closed app-type "the broker sent an invalid frame: a frame of type 1, which only apps send"
check_closed meta-not-identity \
    "the broker sent an invalid frame: the meta field of DELIVER is not an identity (a JSON object with an appId)"
check_closed identity-without-app-id \
    "the broker sent an invalid frame: the meta field of DELIVER is not an identity (a JSON object with an appId)"
check_closed second-welcome "the broker sent an invalid frame: WELCOME arrived a second time"

bus_run 0 "a first frame that is not WELCOME" --start deliver-first -- first-frame
expect_line "not WELCOME first: ready rejects" \
    "ready: Error ECONNRESET: cashstory.bus.ready: the connection to the broker is closed: the broker sent an invalid frame: the first frame is of type 17, not WELCOME"
expect_line "not WELCOME first: self stays null" "self: null"
bus_run 0 "a WELCOME without an identity" --start welcome-not-identity -- first-frame
expect_line "WELCOME without an identity: ready rejects" \
    "ready: Error ECONNRESET: cashstory.bus.ready: the connection to the broker is closed: the broker sent an invalid frame: the meta field of WELCOME is not an identity (a JSON object with an appId)"

# ---- Keeping the loop alive ------------------------------------------------------------------

bus_run 0 "an app that only publishes exits" -- publish-only
expect_line "publish-only: the app ran" "published and finished"
expect_frame "publish-only: the PUBLISH was sent before the exit" \
    "f['type'] == 'PUBLISH' and f['topic'] == 'news/last' and data == 'bye'" 1
bus_run 0 "an app that never uses the bus exits" -- idle
expect_line "idle: the app ran" "idle app finished"

# ---- Without a bus, and the command line ------------------------------------------------------

run 0 "without --bus-fd the app runs" timeout 60 "$APP_HOST" --app "$APP" --index-sha256 "$INDEX_SHA256" \
    -- no-bus
expect_clean "without --bus-fd"
unavailable="the bus is not available: the app was not started by the daemon"
expect_line "without a bus: self is null" "self: null"
expect_line "without a bus: publish rejects" "publish: Error ENOTCONN: cashstory.bus.publish: $unavailable"
expect_line "without a bus: send rejects" "send: Error ENOTCONN: cashstory.bus.send: $unavailable"
expect_line "without a bus: request rejects" "request: Error ENOTCONN: cashstory.bus.request: $unavailable"
expect_line "without a bus: peers rejects" "peers: Error ENOTCONN: cashstory.bus.peers: $unavailable"
expect_line "without a bus: ready rejects" "ready: Error ENOTCONN: cashstory.bus.ready: $unavailable"
expect_line "without a bus: subscribe throws" "subscribe: Error ENOTCONN: cashstory.bus.subscribe: $unavailable"
expect_line "without a bus: respond throws" "respond: Error ENOTCONN: cashstory.bus.respond: $unavailable"
expect_line "without a bus: onmessage does not keep the app alive" "no-bus done"

app_with_fd() {
    timeout 60 "$APP_HOST" --app "$APP" --index-sha256 "$INDEX_SHA256" "$@" -- idle
}
run 2 "--bus-fd needs a number" app_with_fd --bus-fd abc
expect_output "--bus-fd abc: the message names the value" \
    "--bus-fd 'abc': expected a file descriptor number"
run 1 "--bus-fd of a closed descriptor is rejected" app_with_fd --bus-fd 77
expect_output "--bus-fd 77: the message says why" "--bus-fd 77 is not an open file descriptor"
echo data >"$CS_TMP/file.txt"
run 1 "--bus-fd of a file is rejected" app_with_fd --bus-fd 3 3<"$CS_TMP/file.txt"
expect_output "--bus-fd of a file: the message says why" \
    "--bus-fd 3 is not a socket; --bus-fd takes the app's end of a Unix stream socket pair to the broker"
expect_absent "--bus-fd of a file: the app does not run" "idle app finished"
run 1 "--bus-fd of a datagram socket is rejected" python3 -c '
import socket, subprocess, sys
ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
fd = str(theirs.fileno())
sys.exit(subprocess.run(sys.argv[1:] + ["--bus-fd", fd, "--", "idle"], pass_fds=[theirs.fileno()]).returncode)
' "$APP_HOST" --app "$APP" --index-sha256 "$INDEX_SHA256"
expect_output "--bus-fd of a datagram socket: the message says why" \
    "is not a Unix stream socket \(AF_UNIX, SOCK_STREAM\)"
run 1 "--bus-fd of an unconnected socket is rejected" python3 -c '
import socket, subprocess, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
fd = str(sock.fileno())
sys.exit(subprocess.run(sys.argv[1:] + ["--bus-fd", fd, "--", "idle"], pass_fds=[sock.fileno()]).returncode)
' "$APP_HOST" --app "$APP" --index-sha256 "$INDEX_SHA256"
expect_output "--bus-fd of an unconnected socket: the message says why" "is not a connected socket"
run 0 "--help describes --bus-fd" timeout 60 "$APP_HOST" --help
expect_output "--help names --bus-fd" "--bus-fd N"

finish
