/* A native bus client that runs inside the sandbox in place of the app host,
 * for the broker robustness tests (tests/e2e/bus_robustness.sh).
 *
 * The daemon starts it with the app host's options and the bus socket as
 * descriptor 3. It skips every argument up to "--" and runs each argument
 * after it as one command, in order (SECONDS may have a fraction):
 *
 *   subscribe:PATTERN            subscribe and wait for the ACK
 *   publish:TOPIC:N:SIZE[:MS]    publish N messages of SIZE bytes, MS ms apart
 *                                (default 0), reading replies in between, then
 *                                wait for all N replies
 *   flood:TOPIC:SECONDS:SIZE     publish as fast as possible for SECONDS
 *   request-flood:APP:TOPIC:N:SECONDS
 *                                send REQUESTs to APP as fast as possible
 *                                until N are acknowledged or SECONDS passed
 *   request:APP:TOPIC            send one REQUEST and wait for the ACK
 *   expect:N:SECONDS             read until N more DELIVER frames arrived
 *   expect-none:SECONDS          read for SECONDS; no DELIVER may arrive
 *   count:SECONDS                read for SECONDS and count DELIVER frames
 *   quiet                        stop printing each DELIVER frame
 *   note:TEXT                    print TEXT (it also marks the process's
 *                                command line, for pgrep)
 *   peers                        print how many apps the broker lists
 *   sleep:SECONDS                sleep without reading
 *   malformed:KIND               send a malformed frame (see malformed_frame)
 *                                and check that the broker closes the socket
 *   half-frame:SIZE              write the first half of a PUBLISH frame
 *   close                        close the bus socket
 *   forge:TOPIC:APP              send frames that claim another identity
 *   spam:TOPIC:N                 write N PUBLISH frames without reading any
 *                                reply, then wait for the broker to close
 *   fill-queue:TOPIC             stop reading and fill the broker's queue for
 *                                this connection to within one ACK of its limit
 *
 * The WELCOME frame is read before the first command. Every line printed goes
 * to standard output, which the daemon keeps for 'cashstory logs', and is
 * appended to /data/INSTANCE.log, so that a test can read the output of each
 * instance of an app. The exit status is 1 when a command failed. */
#include "bus/broker.h"
#include "bus/frame.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BUS_FD 3
#define REPLY_TIMEOUT_MS 10000
#define CLOSE_TIMEOUT_MS 5000
#define FLOOD_WINDOW 1024
/* The broker closes a connection whose queue of non-droppable frames (ACK,
 * ERROR, REPLY, PEER_LIST) would pass twice CS_BROKER_QUEUE_MAX. */
#define BROKER_CLOSE_LIMIT (2 * (size_t)CS_BROKER_QUEUE_MAX)
/* What the broker counts for each queued frame beyond its bytes
 * (FRAME_OVERHEAD in src/bus/broker.c). */
#define BROKER_FRAME_OVERHEAD 128

static int bus = BUS_FD;
static cs_bus_reader reader;
static uint64_t next_id = 1;
static FILE *record;
static bool quiet;
static int failures;

/* Counters of what the broker has sent. Replies (ACK, ERROR, PEER_LIST) come
 * in the order of the frames they reply to, so every frame up to
 * last_reply_id has its reply. */
static struct {
    char app_id[129];
    char instance_id[65];
    uint64_t acks, eagain, other_errors;
    uint64_t deliveries, consumed, incoming, replies, peer_events;
    uint64_t last_reply_id;
    uint8_t last_reply_type;
    char last_error[1200];
    long peer_count;
    uint64_t errors_printed;
    bool closed;
} st = {.peer_count = -1};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    char line[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    printf("%s\n", line);
    fflush(stdout);
    if (record) {
        fprintf(record, "%s\n", line);
        fflush(record);
    }
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    say("FAIL %s", line);
    failures++;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Copy len bytes of untrusted text into out as printable ASCII. */
static const char *printable(const uint8_t *data, size_t len, char *out, size_t size)
{
    size_t n = len < size - 1 ? len : size - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = data[i] >= 0x20 && data[i] < 0x7f ? (char)data[i] : '?';
    out[n] = '\0';
    return out;
}

static int64_t parse_ms(const char *seconds)
{
    return (int64_t)(strtod(seconds, NULL) * 1000);
}

/* ---- writing ----------------------------------------------------------- */

/* Write all of data to the bus socket. Returns 0, or -errno (EPIPE when the
 * broker has closed the connection). */
static int write_all(const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = write(bus, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int encode(const cs_bus_frame *f, uint8_t **data, size_t *len)
{
    cs_error err = {0};
    if (cs_bus_frame_encode(f, data, len, &err) < 0) {
        fail("cannot encode a frame: %s", err.message);
        return -1;
    }
    return 0;
}

static int send_frame(const cs_bus_frame *f)
{
    uint8_t *data;
    size_t len;
    if (encode(f, &data, &len) < 0)
        return -1;
    int rc = write_all(data, len);
    free(data);
    if (rc < 0) {
        fail("cannot write a frame of type %u to the bus: %s", f->type, strerror(-rc));
        return -1;
    }
    return 0;
}

static int send_simple(uint8_t type, uint64_t id, const char *topic, const void *meta,
                       size_t meta_len, const void *payload, size_t payload_len)
{
    cs_bus_frame f = {
        .type = type,
        .id = id,
        .topic = (const uint8_t *)topic,
        .topic_len = topic ? strlen(topic) : 0,
        .meta = meta,
        .meta_len = meta_len,
        .payload = payload,
        .payload_len = payload_len,
    };
    return send_frame(&f);
}

/* ---- reading ----------------------------------------------------------- */

/* Print a DELIVER or INCOMING frame, labelled with kind, with the sender's
 * identity from its meta field. */
static void print_message(const char *kind, const cs_bus_frame *f)
{
    char meta[CS_BUS_META_MAX + 1], topic[CS_BUS_TOPIC_MAX + 1], payload[61];
    json_t *id = json_loadb((const char *)f->meta, f->meta_len, 0, NULL);
    const char *app = json_string_value(json_object_get(id, "appId"));
    const char *instance = json_string_value(json_object_get(id, "instanceId"));
    const char *version = json_string_value(json_object_get(id, "version"));
    say("%s %s from %s instance %s version %s verified %s: %zu bytes, payload starts '%s'", kind,
        printable(f->topic, f->topic_len, topic, sizeof(topic)), app ? app : "(none)",
        instance ? instance : "(none)", version ? version : "(none)",
        json_is_true(json_object_get(id, "verified")) ? "true" : "false", f->payload_len,
        printable(f->payload, f->payload_len, payload, sizeof(payload)));
    say("  meta %s", printable(f->meta, f->meta_len, meta, sizeof(meta)));
    json_decref(id);
}

static void on_welcome(const cs_bus_frame *f)
{
    char meta[CS_BUS_META_MAX + 1];
    json_t *id = json_loadb((const char *)f->meta, f->meta_len, 0, NULL);
    const char *app = json_string_value(json_object_get(id, "appId"));
    const char *instance = json_string_value(json_object_get(id, "instanceId"));
    snprintf(st.app_id, sizeof(st.app_id), "%s", app ? app : "");
    snprintf(st.instance_id, sizeof(st.instance_id), "%s", instance ? instance : "");
    json_decref(id);

    char path[128];
    snprintf(path, sizeof(path), "/data/%s.log", st.instance_id);
    if (st.instance_id[0] && strspn(st.instance_id, "0123456789abcdef") == strlen(st.instance_id))
        record = fopen(path, "a");
    say("welcome %s instance %s", st.app_id[0] ? st.app_id : "(none)",
        st.instance_id[0] ? st.instance_id : "(none)");
    say("  meta %s", printable(f->meta, f->meta_len, meta, sizeof(meta)));
}

static void on_reply(const cs_bus_frame *f)
{
    st.last_reply_id = f->id;
    st.last_reply_type = f->type;
    if (f->type == CS_BUS_ACK) {
        st.acks++;
        return;
    }
    if (f->type == CS_BUS_PEER_LIST) {
        json_t *list = json_loadb((const char *)f->payload, f->payload_len, 0, NULL);
        st.peer_count = json_is_array(list) ? (long)json_array_size(list) : -1;
        json_decref(list);
        return;
    }
    char code[CS_BUS_TOPIC_MAX + 1], message[1024];
    printable(f->topic, f->topic_len, code, sizeof(code));
    printable(f->payload, f->payload_len, message, sizeof(message));
    snprintf(st.last_error, sizeof(st.last_error), "%s: %s", code, message);
    if (strcmp(code, "EAGAIN") == 0)
        st.eagain++;
    else
        st.other_errors++;
    /* A flood can bring thousands of errors; print only the first ones. */
    if (st.errors_printed < 5) {
        st.errors_printed++;
        say("error for frame %" PRIu64 ": %s", f->id, st.last_error);
    }
}

static void dispatch(const cs_bus_frame *f)
{
    switch (f->type) {
    case CS_BUS_WELCOME:
        on_welcome(f);
        return;
    case CS_BUS_DELIVER:
        st.deliveries++;
        if (!quiet)
            print_message("deliver", f);
        return;
    case CS_BUS_INCOMING:
        st.incoming++;
        if (!quiet)
            print_message("incoming", f);
        return;
    case CS_BUS_REPLY:
        st.replies++;
        return;
    case CS_BUS_ACK:
    case CS_BUS_ERROR:
    case CS_BUS_PEER_LIST:
        on_reply(f);
        return;
    case CS_BUS_PEER_EVENT:
        st.peer_events++;
        return;
    default:
        fail("the broker sent a frame of type %u, which only apps send", f->type);
        return;
    }
}

/* Wait up to timeout_ms for bytes from the broker, then handle every complete
 * frame. Returns 1 when bytes were read, 0 on timeout, -1 when the connection
 * is closed or the broker sent a malformed frame. */
static int pump(int64_t timeout_ms)
{
    if (st.closed)
        return -1;
    struct pollfd p = {.fd = bus, .events = POLLIN};
    int ready = poll(&p, 1, (int)(timeout_ms < 0 ? 0 : timeout_ms));
    if (ready < 0 && errno == EINTR)
        return 0;
    if (ready <= 0)
        return ready < 0 ? -1 : 0;
    static uint8_t buf[64 * 1024];
    ssize_t n = read(bus, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0) {
        /* ECONNRESET: the broker closed its end while bytes that this client
         * wrote were still unread. */
        st.closed = true;
        return -1;
    }
    cs_error err = {0};
    if (cs_bus_reader_feed(&reader, buf, (size_t)n, &err) < 0) {
        fail("the broker sent a malformed frame: %s", err.message);
        st.closed = true;
        return -1;
    }
    for (;;) {
        uint8_t *data = NULL;
        cs_bus_frame f;
        int rc = cs_bus_reader_next(&reader, &data, &f, &err);
        if (rc < 0) {
            fail("the broker sent a malformed frame: %s", err.message);
            st.closed = true;
            return -1;
        }
        if (rc == 0)
            return 1;
        dispatch(&f);
        free(data);
    }
}

/* Handle frames for ms milliseconds. */
static void pump_for(int64_t ms)
{
    int64_t deadline = now_ms() + ms;
    for (int64_t left = ms; left > 0; left = deadline - now_ms())
        if (pump(left) < 0)
            return;
}

/* Handle frames until the reply to frame id arrived. Returns false on a
 * timeout or when the connection closed. */
static bool wait_reply(uint64_t id, int64_t timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (st.last_reply_id < id) {
        int64_t left = deadline - now_ms();
        if (left <= 0 || pump(left) < 0)
            return st.last_reply_id >= id;
    }
    return true;
}

/* Text of the latest reply: "acknowledged" or the error. */
static const char *reply_text(void)
{
    return st.last_reply_type == CS_BUS_ERROR ? st.last_error : "acknowledged";
}

/* ---- commands ---------------------------------------------------------- */

static void cmd_subscribe(const char *pattern)
{
    uint64_t id = next_id++;
    if (send_simple(CS_BUS_SUBSCRIBE, id, pattern, NULL, 0, NULL, 0) < 0)
        return;
    if (!wait_reply(id, REPLY_TIMEOUT_MS))
        fail("subscribe %s: no reply within %d ms", pattern, REPLY_TIMEOUT_MS);
    else if (st.last_reply_type != CS_BUS_ACK)
        fail("subscribe %s: %s", pattern, st.last_error);
    else
        say("subscribed %s", pattern);
}

/* Payload of size bytes that names the message and its sender, padded with
 * dots. */
static uint8_t *make_payload(size_t size, uint64_t number)
{
    uint8_t *payload = malloc(size ? size : 1);
    if (!payload) {
        fail("out of memory for a payload of %zu bytes", size);
        return NULL;
    }
    memset(payload, '.', size);
    char head[128];
    int n = snprintf(head, sizeof(head), "message %" PRIu64 " from %s", number, st.instance_id);
    memcpy(payload, head, (size_t)n < size ? (size_t)n : size);
    return payload;
}

typedef struct publish_stats {
    uint64_t sent, first_id, acks, eagain, other_errors;
    int64_t longest_write_ms, started_ms;
} publish_stats;

static void stats_begin(publish_stats *s)
{
    memset(s, 0, sizeof(*s));
    s->first_id = next_id;
    s->acks = st.acks;
    s->eagain = st.eagain;
    s->other_errors = st.other_errors;
    s->started_ms = now_ms();
}

/* Send one frame, time the write and handle what the broker sent meanwhile
 * without waiting for more. */
static int send_timed(publish_stats *s, const cs_bus_frame *f)
{
    int64_t before = now_ms();
    if (send_frame(f) < 0)
        return -1;
    int64_t took = now_ms() - before;
    if (took > s->longest_write_ms)
        s->longest_write_ms = took;
    s->sent++;
    /* Read everything that is waiting, and keep at most FLOOD_WINDOW frames
     * without a reply, because the broker closes a connection whose replies
     * pile up in its queue. */
    while (pump(0) > 0)
        ;
    while (!st.closed && f->id - st.last_reply_id > FLOOD_WINDOW) {
        if (pump(REPLY_TIMEOUT_MS) == 0) {
            fail("no reply from the broker within %d ms", REPLY_TIMEOUT_MS);
            return -1;
        }
    }
    return 0;
}

/* Wait for the replies to every frame sent, then turn the counters into the
 * numbers for this command. */
static void stats_end(publish_stats *s, const char *command)
{
    if (s->sent && !wait_reply(s->first_id + s->sent - 1, REPLY_TIMEOUT_MS))
        fail("%s: %" PRIu64 " frames sent but replies stopped at frame %" PRIu64 " of %" PRIu64
             " within %d ms",
             command, s->sent,
             st.last_reply_id >= s->first_id ? st.last_reply_id - s->first_id + 1 : 0, s->sent,
             REPLY_TIMEOUT_MS);
    s->acks = st.acks - s->acks;
    s->eagain = st.eagain - s->eagain;
    s->other_errors = st.other_errors - s->other_errors;
}

static void cmd_publish(const char *topic, uint64_t count, size_t size, int64_t interval_ms)
{
    publish_stats s;
    stats_begin(&s);
    for (uint64_t i = 1; i <= count; i++) {
        uint8_t *payload = make_payload(size, i);
        if (!payload)
            return;
        cs_bus_frame f = {.type = CS_BUS_PUBLISH,
                          .id = next_id++,
                          .topic = (const uint8_t *)topic,
                          .topic_len = strlen(topic),
                          .payload = payload,
                          .payload_len = size};
        int rc = send_timed(&s, &f);
        free(payload);
        if (rc < 0)
            return;
        if (interval_ms > 0)
            pump_for(interval_ms);
    }
    stats_end(&s, "publish");
    say("published %" PRIu64 " messages of %zu bytes to %s: %" PRIu64 " acknowledged, %" PRIu64
        " EAGAIN, %" PRIu64 " other errors; longest write %" PRId64 " ms; %" PRId64 " ms in all",
        s.sent, size, topic, s.acks, s.eagain, s.other_errors, s.longest_write_ms,
        now_ms() - s.started_ms);
}

static void cmd_flood(const char *topic, int64_t duration_ms, size_t size)
{
    uint8_t *payload = make_payload(size, 0);
    if (!payload)
        return;
    publish_stats s;
    stats_begin(&s);
    int64_t deadline = s.started_ms + duration_ms;
    while (now_ms() < deadline) {
        cs_bus_frame f = {.type = CS_BUS_PUBLISH,
                          .id = next_id++,
                          .topic = (const uint8_t *)topic,
                          .topic_len = strlen(topic),
                          .payload = payload,
                          .payload_len = size};
        if (send_timed(&s, &f) < 0)
            break;
    }
    free(payload);
    int64_t sending_ms = now_ms() - s.started_ms;
    stats_end(&s, "flood");
    say("flooded %s for %" PRId64 " ms: sent %" PRIu64 " messages of %zu bytes, %" PRIu64
        " acknowledged, %" PRIu64 " EAGAIN, %" PRIu64 " other errors (%" PRIu64
        " messages per second); longest write %" PRId64 " ms",
        topic, sending_ms, s.sent, size, s.acks, s.eagain, s.other_errors,
        sending_ms > 0 ? s.sent * 1000 / (uint64_t)sending_ms : 0, s.longest_write_ms);
}

/* Send REQUESTs until acknowledged of them were acknowledged (each one is
 * then pending in the broker) or duration_ms passed. */
static void cmd_request_flood(const char *app, const char *topic, uint64_t acknowledged,
                              int64_t duration_ms)
{
    publish_stats s;
    stats_begin(&s);
    bool was_quiet = quiet;
    quiet = true;
    int64_t deadline = s.started_ms + duration_ms;
    static const char payload[] = "{\"question\":\"will you ever respond?\"}";
    while (now_ms() < deadline && st.acks - s.acks < acknowledged) {
        cs_bus_frame f = {.type = CS_BUS_REQUEST,
                          .id = next_id++,
                          .topic = (const uint8_t *)topic,
                          .topic_len = strlen(topic),
                          .meta = (const uint8_t *)app,
                          .meta_len = strlen(app),
                          .payload = (const uint8_t *)payload,
                          .payload_len = sizeof(payload) - 1};
        if (send_timed(&s, &f) < 0)
            break;
    }
    int64_t sending_ms = now_ms() - s.started_ms;
    stats_end(&s, "request-flood");
    quiet = was_quiet;
    say("sent %" PRIu64 " requests to %s on %s in %" PRId64 " ms: %" PRIu64
        " acknowledged, %" PRIu64 " EAGAIN, %" PRIu64 " other errors",
        s.sent, app, topic, sending_ms, s.acks, s.eagain, s.other_errors);
}

static void cmd_request(const char *app, const char *topic)
{
    uint64_t id = next_id++;
    if (send_simple(CS_BUS_REQUEST, id, topic, app, strlen(app), "{}", 2) < 0)
        return;
    if (!wait_reply(id, REPLY_TIMEOUT_MS))
        fail("request to %s on %s: no reply within %d ms", app, topic, REPLY_TIMEOUT_MS);
    else if (st.last_reply_type != CS_BUS_ACK)
        fail("request to %s on %s: %s", app, topic, st.last_error);
    else
        say("request to %s on %s: acknowledged", app, topic);
}

static void cmd_expect(uint64_t count, int64_t timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (st.deliveries - st.consumed < count) {
        int64_t left = deadline - now_ms();
        if (left <= 0 || pump(left) < 0)
            break;
    }
    uint64_t got = st.deliveries - st.consumed;
    st.consumed = st.deliveries;
    if (got >= count)
        say("expect: received %" PRIu64 " deliveries", got);
    else
        fail("expect: %s after %" PRId64 " ms with %" PRIu64 " of %" PRIu64 " deliveries",
             st.closed ? "connection closed" : "timed out", timeout_ms, got, count);
}

static void cmd_expect_none(int64_t ms)
{
    pump_for(ms);
    uint64_t got = st.deliveries - st.consumed;
    st.consumed = st.deliveries;
    if (got)
        fail("expect-none: received %" PRIu64 " unexpected deliveries", got);
    else
        say("expect-none: no delivery in %" PRId64 " ms", ms);
}

static void cmd_count(int64_t ms)
{
    pump_for(ms);
    uint64_t got = st.deliveries - st.consumed;
    st.consumed = st.deliveries;
    say("count: received %" PRIu64 " deliveries in %" PRId64 " ms", got, ms);
}

static void cmd_peers(void)
{
    uint64_t id = next_id++;
    if (send_simple(CS_BUS_PEERS, id, NULL, NULL, 0, NULL, 0) < 0)
        return;
    if (!wait_reply(id, REPLY_TIMEOUT_MS))
        fail("peers: no reply within %d ms", REPLY_TIMEOUT_MS);
    else if (st.last_reply_type != CS_BUS_PEER_LIST)
        fail("peers: %s", reply_text());
    else
        say("peers: %ld apps connected", st.peer_count);
}

/* Wait until the broker closes the connection, reading and dropping what it
 * still sends. Returns the time it took, or -1 on a timeout. */
static int64_t await_close(int64_t timeout_ms)
{
    int64_t start = now_ms(), deadline = start + timeout_ms;
    static uint8_t buf[64 * 1024];
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = bus, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        ssize_t n = read(bus, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            st.closed = true;
            return now_ms() - start;
        }
    }
}

/* Malformed headers: width bytes at offset (src/bus/frame.h lists the
 * fields) become value, little-endian. A header that claims a field over its
 * limit is sent alone, because the broker must reject it before the body. */
static const struct {
    const char *kind;
    size_t offset, width;
    uint32_t value;
    bool header_only;
} header_faults[] = {
    {"version", 2, 1, 2, false},
    {"unknown-type", 3, 1, 99, false},
    {"flags", 4, 2, 1, false},
    {"reserved", 18, 2, 1, false},
    {"meta-oversized", 6, 2, CS_BUS_META_MAX + 1, true},
    {"topic-oversized", 16, 2, CS_BUS_TOPIC_MAX + 1, true},
    {"oversized", 20, 4, CS_BUS_PAYLOAD_MAX + 1, true},
};

/* Build the bytes of one malformed frame of the given kind: "garbage",
 * "broker-type", "topic-utf8" or one of header_faults. Returns the length, or
 * 0 for an unknown kind. */
static size_t malformed_frame(const char *kind, uint8_t **out)
{
    if (strcmp(kind, "garbage") == 0) {
        size_t len = 4096;
        uint8_t *data = malloc(len);
        if (!data)
            return 0;
        if (getrandom(data, len, 0) != (ssize_t)len)
            for (size_t i = 0; i < len; i++)
                data[i] = (uint8_t)(i * 131 + 7);
        data[0] = 0xff; /* never the magic "CS" */
        *out = data;
        return len;
    }

    static const char topic[] = "robust/malformed";
    cs_bus_frame f = {.type = CS_BUS_PUBLISH,
                      .id = 1,
                      .topic = (const uint8_t *)topic,
                      .topic_len = sizeof(topic) - 1,
                      .payload = (const uint8_t *)"{}",
                      .payload_len = 2};
    size_t fault = ARRAY_SIZE(header_faults);
    if (strcmp(kind, "broker-type") == 0) {
        /* A DELIVER frame with a made-up sender, which only the broker may
         * send. */
        static const char fake[] = "{\"appId\":\"com.example.trusted\",\"instanceId\":\"0\"}";
        f.type = CS_BUS_DELIVER;
        f.meta = (const uint8_t *)fake;
        f.meta_len = sizeof(fake) - 1;
    } else if (strcmp(kind, "topic-utf8") == 0) {
        f.topic = (const uint8_t *)"robust/\xc3\x28"; /* a lead byte without its continuation */
        f.topic_len = 9;
    } else {
        for (fault = 0; fault < ARRAY_SIZE(header_faults); fault++)
            if (strcmp(kind, header_faults[fault].kind) == 0)
                break;
        if (fault == ARRAY_SIZE(header_faults))
            return 0;
    }

    uint8_t *data;
    size_t len;
    if (encode(&f, &data, &len) < 0)
        return 0;
    if (fault < ARRAY_SIZE(header_faults)) {
        for (size_t i = 0; i < header_faults[fault].width; i++)
            data[header_faults[fault].offset + i] =
                (uint8_t)(header_faults[fault].value >> (8 * i));
        if (header_faults[fault].header_only)
            len = CS_BUS_HEADER_SIZE;
    }
    *out = data;
    return len;
}

static void cmd_malformed(const char *kind)
{
    uint8_t *data = NULL;
    size_t len = malformed_frame(kind, &data);
    if (len == 0) {
        fail("malformed: unknown kind '%s' (expected garbage, version, reserved, flags, "
             "unknown-type, broker-type, oversized, meta-oversized, topic-oversized or topic-utf8)",
             kind);
        return;
    }
    /* EPIPE is fine: the broker may close the connection before all of the
     * garbage is written. */
    int rc = write_all(data, len);
    free(data);
    say("malformed %s: wrote %zu bytes%s%s", kind, len, rc < 0 ? ", then " : "",
        rc < 0 ? strerror(-rc) : "");
    int64_t took = await_close(CLOSE_TIMEOUT_MS);
    if (took < 0)
        fail("malformed %s: the connection is still open after %d ms", kind, CLOSE_TIMEOUT_MS);
    else
        say("malformed %s: the broker closed the connection after %" PRId64 " ms", kind, took);
}

static void cmd_half_frame(size_t size)
{
    uint8_t *payload = make_payload(size, 1);
    if (!payload)
        return;
    static const char topic[] = "robust/half";
    cs_bus_frame f = {.type = CS_BUS_PUBLISH,
                      .id = next_id++,
                      .topic = (const uint8_t *)topic,
                      .topic_len = sizeof(topic) - 1,
                      .payload = payload,
                      .payload_len = size};
    uint8_t *data;
    size_t len;
    int rc = encode(&f, &data, &len);
    free(payload);
    if (rc < 0)
        return;
    rc = write_all(data, len / 2);
    free(data);
    if (rc < 0)
        fail("half-frame: cannot write: %s", strerror(-rc));
    else
        say("half-frame: wrote %zu of %zu bytes of a frame", len / 2, len);
}

/* Identity that a forger claims; the fields match the broker's identity
 * objects so that a receiver that trusted it would see a plausible sender. */
static const char fake_identity[] =
    "{\"appId\":\"com.example.trusted\",\"instanceId\":\"ffffffffffffffffffffffffffffffff\","
    "\"origin\":null,\"packageDigest\":"
    "\"0000000000000000000000000000000000000000000000000000000000000000\","
    "\"publisher\":{\"keyId\":"
    "\"0000000000000000000000000000000000000000000000000000000000000000\","
    "\"type\":\"ed25519\"},\"verified\":true,\"version\":\"9.9.9\"}";

/* Send one forged frame and report the broker's reply. */
static void forge_one(const char *attempt, uint8_t type, const char *topic, const void *meta,
                      size_t meta_len, const void *payload, size_t payload_len)
{
    uint64_t id = next_id++;
    if (send_simple(type, id, topic, meta, meta_len, payload, payload_len) < 0)
        return;
    if (!wait_reply(id, REPLY_TIMEOUT_MS))
        fail("forge %s: no reply within %d ms", attempt, REPLY_TIMEOUT_MS);
    else
        say("forge %s: %s", attempt, reply_text());
}

static void cmd_forge(const char *topic, const char *target)
{
    size_t fake_len = sizeof(fake_identity) - 1;

    /* 1. The identity in the meta field of a PUBLISH. */
    forge_one("publish-meta", CS_BUS_PUBLISH, topic, fake_identity, fake_len, "{\"forged\":1}", 12);

    /* 2. A meta field of the maximum size, the identity padded with spaces. */
    char *big = malloc(CS_BUS_META_MAX);
    if (big) {
        memset(big, ' ', CS_BUS_META_MAX);
        memcpy(big, fake_identity, fake_len);
        forge_one("publish-meta-max", CS_BUS_PUBLISH, topic, big, CS_BUS_META_MAX, "{\"forged\":2}",
                  12);
        free(big);
    }

    /* 3. A payload that claims a sender, as a careless receiver might read it. */
    char claim[1024];
    int n = snprintf(claim, sizeof(claim), "{\"forged\":3,\"sender\":%s}", fake_identity);
    forge_one("publish-payload", CS_BUS_PUBLISH, topic, NULL, 0, claim, (size_t)n);

    /* 4. A payload that is a whole DELIVER frame: the receiver must see one
     *    frame with this payload, not a second, smuggled frame. */
    static const char smuggled_payload[] = "{\"forged\":4}";
    cs_bus_frame inner = {.type = CS_BUS_DELIVER,
                          .topic = (const uint8_t *)topic,
                          .topic_len = strlen(topic),
                          .meta = (const uint8_t *)fake_identity,
                          .meta_len = fake_len,
                          .payload = (const uint8_t *)smuggled_payload,
                          .payload_len = sizeof(smuggled_payload) - 1};
    uint8_t *frame;
    size_t frame_len;
    if (encode(&inner, &frame, &frame_len) == 0) {
        forge_one("publish-smuggled-frame", CS_BUS_PUBLISH, topic, NULL, 0, frame, frame_len);
        free(frame);
    }

    /* 5. A SEND whose meta field names the target and, after a NUL byte,
     *    carries the fake identity. The broker may deliver or reject it, but
     *    must not show the fake identity. */
    char meta[1024];
    size_t target_len = strlen(target);
    memcpy(meta, target, target_len);
    meta[target_len] = '\0';
    memcpy(meta + target_len + 1, fake_identity, fake_len);
    forge_one("send-meta-after-nul", CS_BUS_SEND, topic, meta, target_len + 1 + fake_len,
              "{\"forged\":5}", 12);

    /* 6. A SEND with the fake identity in its payload. */
    n = snprintf(claim, sizeof(claim), "{\"forged\":6,\"sender\":%s}", fake_identity);
    forge_one("send-payload", CS_BUS_SEND, topic, target, target_len, claim, (size_t)n);
}

/* Bytes the broker has written to this socket and this client has not read. */
static size_t unread_bytes(void)
{
    int n = 0;
    if (ioctl(bus, FIONREAD, &n) < 0)
        return 0;
    return (size_t)n;
}

/* Send count copies of a frame in writes of up to 1024 frames. */
static int send_repeated(const cs_bus_frame *f, size_t count)
{
    uint8_t *frame;
    size_t len;
    if (encode(f, &frame, &len) < 0)
        return -1;
    size_t batch = count < 1024 ? count : 1024;
    uint8_t *buf = malloc(len * (batch ? batch : 1));
    if (!buf) {
        free(frame);
        fail("out of memory");
        return -1;
    }
    for (size_t i = 0; i < batch; i++)
        memcpy(buf + i * len, frame, len);
    int rc = 0;
    for (size_t left = count; left > 0 && rc == 0;) {
        size_t now = left < batch ? left : batch;
        rc = write_all(buf, now * len);
        left -= now;
    }
    free(frame);
    free(buf);
    if (rc < 0)
        fail("cannot write to the bus: %s", strerror(-rc));
    return rc;
}

/* Wait until the number of unread bytes has not changed for 300 ms, which
 * shows that the broker has handled what this client sent. Returns it. */
static size_t settled_unread_bytes(void)
{
    size_t before = unread_bytes();
    for (int i = 0; i < 50; i++) {
        sleep_ms(100);
        size_t after = unread_bytes();
        if (after == before && i >= 2)
            return after;
        before = after;
    }
    return before;
}

/* Write count empty PUBLISH frames without reading any reply, then report
 * whether the broker closed the connection. */
static void cmd_spam(const char *topic, size_t count)
{
    cs_bus_frame publish = {.type = CS_BUS_PUBLISH,
                            .id = next_id++,
                            .topic = (const uint8_t *)topic,
                            .topic_len = strlen(topic)};
    int64_t start = now_ms();
    uint8_t *frame;
    size_t len;
    if (encode(&publish, &frame, &len) < 0)
        return;
    uint8_t *batch = malloc(len * 1024);
    if (!batch) {
        free(frame);
        fail("out of memory");
        return;
    }
    for (size_t i = 0; i < 1024; i++)
        memcpy(batch + i * len, frame, len);
    free(frame);
    size_t sent = 0;
    int rc = 0;
    while (sent < count && rc == 0) {
        size_t now = count - sent < 1024 ? count - sent : 1024;
        rc = write_all(batch, now * len);
        if (rc == 0)
            sent += now;
    }
    free(batch);
    say("spam: wrote %zu PUBLISH frames of %zu bytes to %s without reading in %" PRId64 " ms%s%s",
        sent, len, topic, now_ms() - start, rc < 0 ? "; then " : "", rc < 0 ? strerror(-rc) : "");
    int64_t took = await_close(CLOSE_TIMEOUT_MS);
    if (took < 0)
        say("spam: the connection is still open");
    else
        say("spam: the broker closed the connection");
}

/* Stop reading, then send frames whose replies the broker must keep (it may
 * not drop them) until its queue for this connection is within one ACK of
 * BROKER_CLOSE_LIMIT. The broker counts every frame that is not written whole
 * yet, at its size plus BROKER_FRAME_OVERHEAD; the frames written whole are
 * those in this socket's receive buffer, which FIONREAD reports exactly
 * because nothing is read. Nothing else may be sent
 * to this connection meanwhile: no subscription may match, and no app may
 * join or leave the bus. */
static void cmd_fill_queue(const char *topic)
{
    /* Read everything pending, so that the broker's queue and the socket
     * buffer are empty. */
    pump_for(300);
    if (st.closed || unread_bytes() != 0 || reader.used != 0) {
        fail("fill-queue: the connection is closed or the broker is still sending");
        return;
    }

    /* From here on nothing is read. A PEER_LIST reply lists the connected
     * identities, which do not change while no app joins or leaves, so every
     * reply has the size of the first. */
    cs_bus_frame ask = {.type = CS_BUS_PEERS, .id = next_id++};
    if (send_frame(&ask) < 0)
        return;
    size_t list_size = settled_unread_bytes();
    if (list_size < CS_BUS_HEADER_SIZE) {
        fail("fill-queue: the broker did not reply to PEERS");
        return;
    }
    size_t rough = (BROKER_CLOSE_LIMIT - 256 * 1024) / (list_size + BROKER_FRAME_OVERHEAD);
    if (send_repeated(&ask, rough) < 0)
        return;
    size_t frames = 1 + rough;
    size_t in_socket = settled_unread_bytes();
    /* A frame counts against the queue until it is written whole. */
    size_t written = in_socket / list_size;
    size_t list_cost = list_size + BROKER_FRAME_OVERHEAD;
    size_t ack_cost = CS_BUS_HEADER_SIZE + BROKER_FRAME_OVERHEAD;
    size_t queued = (frames - written) * list_cost;

    size_t more = 0;
    while (queued + list_cost + ack_cost <= BROKER_CLOSE_LIMIT) {
        queued += list_cost;
        more++;
    }
    if (more && send_repeated(&ask, more) < 0)
        return;
    cs_bus_frame publish = {.type = CS_BUS_PUBLISH,
                            .id = next_id++,
                            .topic = (const uint8_t *)topic,
                            .topic_len = strlen(topic)};
    size_t acks = 0;
    while (queued + ack_cost <= BROKER_CLOSE_LIMIT) {
        queued += ack_cost;
        acks++;
    }
    if (acks && send_repeated(&publish, acks) < 0)
        return;
    size_t in_socket_after = settled_unread_bytes();
    struct pollfd p = {.fd = bus, .events = POLLRDHUP};
    poll(&p, 1, 0);
    if (in_socket_after != in_socket || (p.revents & (POLLRDHUP | POLLHUP))) {
        fail("fill-queue: the broker wrote %zu more bytes or closed the connection "
             "(revents 0x%x)",
             in_socket_after - in_socket, (unsigned)p.revents);
        return;
    }
    say("fill-queue: the broker queues %zu bytes for this connection (closes it above %zu); "
        "%zu more bytes wait in the socket",
        queued, BROKER_CLOSE_LIMIT, in_socket);
}

/* ---- main -------------------------------------------------------------- */

/* Split "name:a:b:c" in place. Returns the number of fields. */
static int split(char *text, char **fields, int max)
{
    int n = 0;
    for (char *p = text; n < max;) {
        fields[n++] = p;
        p = strchr(p, ':');
        if (!p)
            break;
        *p++ = '\0';
    }
    return n;
}

/* Each run_X function runs one command. v[0] is the command's name and
 * v[1..n-1] are its arguments. */
static void run_subscribe(char **v, int n)
{
    (void)n;
    cmd_subscribe(v[1]);
}

static void run_publish(char **v, int n)
{
    cmd_publish(v[1], strtoull(v[2], NULL, 10), strtoull(v[3], NULL, 10),
                n > 4 ? strtoll(v[4], NULL, 10) : 0);
}

static void run_flood(char **v, int n)
{
    (void)n;
    cmd_flood(v[1], parse_ms(v[2]), strtoull(v[3], NULL, 10));
}

static void run_request_flood(char **v, int n)
{
    (void)n;
    cmd_request_flood(v[1], v[2], strtoull(v[3], NULL, 10), parse_ms(v[4]));
}

static void run_request(char **v, int n)
{
    (void)n;
    cmd_request(v[1], v[2]);
}

static void run_expect(char **v, int n)
{
    (void)n;
    cmd_expect(strtoull(v[1], NULL, 10), parse_ms(v[2]));
}

static void run_expect_none(char **v, int n)
{
    (void)n;
    cmd_expect_none(parse_ms(v[1]));
}

static void run_count(char **v, int n)
{
    (void)n;
    cmd_count(parse_ms(v[1]));
}

static void run_quiet(char **v, int n)
{
    (void)v;
    (void)n;
    quiet = true;
}

static void run_note(char **v, int n)
{
    (void)n;
    say("note %s", v[1]);
}

static void run_peers(char **v, int n)
{
    (void)v;
    (void)n;
    cmd_peers();
}

static void run_sleep(char **v, int n)
{
    (void)n;
    sleep_ms(parse_ms(v[1]));
}

static void run_malformed(char **v, int n)
{
    (void)n;
    cmd_malformed(v[1]);
}

static void run_half_frame(char **v, int n)
{
    (void)n;
    cmd_half_frame(strtoull(v[1], NULL, 10));
}

static void run_close(char **v, int n)
{
    (void)v;
    (void)n;
    close(bus);
    st.closed = true;
    say("closed the bus socket");
}

static void run_forge(char **v, int n)
{
    (void)n;
    cmd_forge(v[1], v[2]);
}

static void run_spam(char **v, int n)
{
    (void)n;
    cmd_spam(v[1], strtoull(v[2], NULL, 10));
}

static void run_fill_queue(char **v, int n)
{
    (void)n;
    cmd_fill_queue(v[1]);
}

static const struct {
    const char *name;
    int fields; /* the minimum number of fields, the name included */
    void (*run)(char **v, int n);
} commands[] = {
    {"subscribe", 2, run_subscribe},
    {"publish", 4, run_publish},
    {"flood", 4, run_flood},
    {"request-flood", 5, run_request_flood},
    {"request", 3, run_request},
    {"expect", 3, run_expect},
    {"expect-none", 2, run_expect_none},
    {"count", 2, run_count},
    {"quiet", 1, run_quiet},
    {"note", 2, run_note},
    {"peers", 1, run_peers},
    {"sleep", 2, run_sleep},
    {"malformed", 2, run_malformed},
    {"half-frame", 2, run_half_frame},
    {"close", 1, run_close},
    {"forge", 3, run_forge},
    {"spam", 3, run_spam},
    {"fill-queue", 2, run_fill_queue},
};

static void run_command(char *arg)
{
    char *v[6];
    int n = split(arg, v, 6);
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        if (strcmp(v[0], commands[i].name) != 0)
            continue;
        if (n < commands[i].fields)
            fail("%s: expected %d fields separated by ':', got %d", v[0], commands[i].fields, n);
        else
            commands[i].run(v, n);
        return;
    }
    fail("unknown command '%s'", v[0]);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    cs_bus_reader_init(&reader);
    int first = argc;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) {
            first = i + 1;
            break;
        }

    int64_t deadline = now_ms() + REPLY_TIMEOUT_MS;
    while (!st.instance_id[0] && now_ms() < deadline)
        if (pump(deadline - now_ms()) < 0)
            break;
    if (!st.instance_id[0]) {
        fail("no WELCOME frame from the broker on descriptor %d within %d ms", BUS_FD,
             REPLY_TIMEOUT_MS);
        return 1;
    }

    for (int i = first; i < argc; i++)
        run_command(argv[i]);
    say("done: %d failures", failures);
    if (record)
        fclose(record);
    cs_bus_reader_free(&reader);
    return failures ? 1 : 0;
}
