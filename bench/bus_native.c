/* A native CashStory bus client for the benchmark. cashstoryd runs it in
 * place of the JavaScript host (CASHSTORY_APP_HOST), inside the app's
 * sandbox, with the app's end of the broker socket as descriptor 3. It
 * speaks the wire format of src/bus/frame.h through the encoder and the
 * stream reader of the cashstory_core library. bench/bus runs it.
 *
 * The daemon starts it as
 *   cashstory-app --app /app --data DIR --index-sha256 HEX --bus-fd 3 -- ROLE ARGS
 * with one of these roles:
 *   pong
 *       Subscribe to bench/flow and count what arrives. Respond to the
 *       requests bench/ready (once the subscription is acknowledged), bench/rtt (the
 *       payload unchanged) and bench/drain (the count since the last drain, as
 *       decimal text). It runs until the daemon stops it.
 *   ping PONG_APP_ID MODE SIZES RTT_WARMUP RTT_COUNT FLOW_WARMUP FLOW_COUNT WINDOW
 *       MODE is rtt, flow or all. For each size in SIZES (comma-separated
 *       bytes), rtt sends RTT_WARMUP untimed and RTT_COUNT timed requests of
 *       SIZE bytes to bench/rtt and waits for each reply. flow publishes
 *       FLOW_WARMUP messages of SIZE bytes on bench/flow and drains, then
 *       starts the clock, publishes FLOW_COUNT messages, drains and stops
 *       the clock. At most WINDOW publishes wait for their ACK at a time,
 *       and a publish that the broker drops for a full receiver queue
 *       (ERROR EAGAIN) is sent again and counted. Writes DIR/rtt-SIZE.ns
 *       (round-trip times in ns, one a line) and DIR/flow-SIZE.txt
 *       ("messages=N bytes=B elapsed_ns=E retransmitted=R"), and prints
 *       "phase ..." lines on standard output around each timed loop.
 *
 * The package's signature and files were verified by the daemon before the
 * launch; this program does not check --index-sha256 again. */
#define _GNU_SOURCE
#include "bus/frame.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZES 8
#define READ_SIZE 65536
#define SUBSCRIPTION_ID 1
#define READY_ATTEMPTS 1000 /* 10 ms apart: 10 s */
#define BACKOFF_MIN_US 100
#define BACKOFF_MAX_US 10000

typedef struct client {
    int fd;
    cs_bus_reader reader;
    uint8_t *buffer;
    uint64_t last_id;
    /* The frame that next_frame returned last, freed on the next call. */
    uint8_t *frame_data;
} client;

typedef struct params {
    const char *data_dir;
    const char *pong_id;
    bool rtt, flow;
    size_t sizes[MAX_SIZES];
    size_t nsizes;
    long rtt_warmup, rtt_count, flow_warmup, flow_count, window;
} params;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bus_native: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void write_all(int fd, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("cannot write to the broker: %s", strerror(errno));
        data += n;
        len -= (size_t)n;
    }
}

/* Encode one frame and write it with one write() call. */
static void send_frame(client *c, uint8_t type, uint64_t id, const char *topic, const char *meta,
                       const void *payload, size_t payload_len)
{
    cs_bus_frame frame = {
        .type = type,
        .id = id,
        .topic = (const uint8_t *)topic,
        .topic_len = topic ? strlen(topic) : 0,
        .meta = (const uint8_t *)meta,
        .meta_len = meta ? strlen(meta) : 0,
        .payload = payload,
        .payload_len = payload_len,
    };
    uint8_t *data;
    size_t len;
    cs_error err;
    if (cs_bus_frame_encode(&frame, &data, &len, &err) < 0)
        die("cannot encode a frame: %s", err.message);
    write_all(c->fd, data, len);
    free(data);
}

/* Block until the next whole frame from the broker has arrived. The frame
 * stays valid until the next call. */
static void next_frame(client *c, cs_bus_frame *frame)
{
    free(c->frame_data);
    c->frame_data = NULL;
    cs_error err;
    for (;;) {
        int rc = cs_bus_reader_next(&c->reader, &c->frame_data, frame, &err);
        if (rc < 0)
            die("the broker sent an invalid frame: %s", err.message);
        if (rc == 1)
            return;
        ssize_t n = read(c->fd, c->buffer, READ_SIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("cannot read from the broker: %s", strerror(errno));
        if (n == 0)
            die("the broker closed the connection");
        if (cs_bus_reader_feed(&c->reader, c->buffer, (size_t)n, &err) < 0)
            die("the broker sent an invalid frame: %s", err.message);
    }
}

static bool topic_is(const cs_bus_frame *frame, const char *topic)
{
    return frame->topic_len == strlen(topic) && memcmp(frame->topic, topic, frame->topic_len) == 0;
}

/* Exit with the broker's error code and message. */
static void die_on_error(const cs_bus_frame *frame, const char *context) __attribute__((noreturn));

static void die_on_error(const cs_bus_frame *frame, const char *context)
{
    die("%s: the broker returned %.*s: %.*s", context, (int)frame->topic_len,
        (const char *)frame->topic, (int)frame->payload_len, (const char *)frame->payload);
}

static void client_open(client *c, int fd)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    cs_bus_reader_init(&c->reader);
    c->buffer = malloc(READ_SIZE);
    if (!c->buffer)
        die("out of memory");
    cs_bus_frame frame;
    next_frame(c, &frame);
    if (frame.type != CS_BUS_WELCOME)
        die("the first frame from the broker has type %u instead of WELCOME", frame.type);
}

/* ---- pong ------------------------------------------------------------------ */

static void respond(client *c, const cs_bus_frame *incoming, const void *payload, size_t len)
{
    char request_id[24];
    snprintf(request_id, sizeof(request_id), "%" PRIu64, incoming->id);
    send_frame(c, CS_BUS_RESPONSE, ++c->last_id, NULL, request_id, payload, len);
}

static int run_pong(client *c)
{
    send_frame(c, CS_BUS_SUBSCRIBE, SUBSCRIPTION_ID, "bench/flow", NULL, NULL, 0);
    bool subscribed = false;
    uint64_t received = 0;
    for (;;) {
        cs_bus_frame frame;
        next_frame(c, &frame);
        switch (frame.type) {
        case CS_BUS_DELIVER:
            received++;
            break;
        case CS_BUS_ACK:
            if (frame.id == SUBSCRIPTION_ID)
                subscribed = true;
            break;
        case CS_BUS_ERROR:
            die_on_error(&frame, "pong");
        case CS_BUS_INCOMING:
            if (topic_is(&frame, "bench/rtt")) {
                respond(c, &frame, frame.payload, frame.payload_len);
            } else if (topic_is(&frame, "bench/ready")) {
                /* Not ready before the subscription is active: the ping
                 * retries until it gets a reply. */
                if (subscribed)
                    respond(c, &frame, "true", 4);
                else
                    respond(c, &frame, "false", 5);
            } else if (topic_is(&frame, "bench/drain")) {
                char text[24];
                int len = snprintf(text, sizeof(text), "%" PRIu64, received);
                respond(c, &frame, text, (size_t)len);
                received = 0;
            } else {
                die("pong: request on the unexpected topic '%.*s'", (int)frame.topic_len,
                    (const char *)frame.topic);
            }
            break;
        default:
            break; /* PEER_EVENT and the like */
        }
    }
}

/* ---- ping ------------------------------------------------------------------ */

/* Send one request and wait for its reply; returns the reply, valid until
 * the next frame is read. With error_ok, an ERROR is returned too. */
static cs_bus_frame request(client *c, const params *p, const char *topic, const void *payload,
                            size_t len, bool error_ok)
{
    uint64_t id = ++c->last_id;
    send_frame(c, CS_BUS_REQUEST, id, topic, p->pong_id, payload, len);
    for (;;) {
        cs_bus_frame frame;
        next_frame(c, &frame);
        if (frame.id != id)
            continue; /* PEER_EVENT */
        if (frame.type == CS_BUS_REPLY)
            return frame;
        if (frame.type == CS_BUS_ERROR) {
            if (error_ok)
                return frame;
            die_on_error(&frame, topic);
        }
        /* The ACK of the request comes before its REPLY. */
    }
}

static void wait_for_pong(client *c, const params *p)
{
    for (int attempt = 0; attempt < READY_ATTEMPTS; attempt++) {
        cs_bus_frame reply = request(c, p, "bench/ready", NULL, 0, true);
        if (reply.type == CS_BUS_REPLY && reply.payload_len == 4 &&
            memcmp(reply.payload, "true", 4) == 0)
            return;
        usleep(10000);
    }
    die("%s did not respond to bench/ready within 10 s", p->pong_id);
}

static FILE *open_output(const params *p, const char *name, size_t size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s-%zu.%s", p->data_dir, name, size,
             strcmp(name, "rtt") == 0 ? "ns" : "txt");
    FILE *f = fopen(path, "w");
    if (!f)
        die("cannot create %s: %s", path, strerror(errno));
    return f;
}

static void phase(const char *what, size_t size, const char *when)
{
    printf("phase %s %zu %s\n", what, size, when);
    fflush(stdout);
}

static void measure_rtt(client *c, const params *p, const uint8_t *payload, size_t size,
                        uint64_t *samples)
{
    phase("rtt", size, "warmup");
    for (long i = 0; i < p->rtt_warmup + p->rtt_count; i++) {
        if (i == p->rtt_warmup)
            phase("rtt", size, "timed");
        uint64_t start = now_ns();
        cs_bus_frame reply = request(c, p, "bench/rtt", payload, size, false);
        if (i >= p->rtt_warmup)
            samples[i - p->rtt_warmup] = now_ns() - start;
        if (reply.payload_len != size)
            die("the reply has %zu bytes instead of %zu", reply.payload_len, size);
    }
    phase("rtt", size, "end");
    FILE *f = open_output(p, "rtt", size);
    for (long i = 0; i < p->rtt_count; i++)
        fprintf(f, "%" PRIu64 "\n", samples[i]);
    if (fclose(f) != 0)
        die("cannot write the round-trip times: %s", strerror(errno));
}

/* Publish count messages with at most p->window waiting for their ACK, then
 * request a drain, to which pong responds with the number it received. Returns
 * the number of publishes sent again after an EAGAIN drop.
 *
 * The broker ACKs a publish once it has queued the message for the
 * receiver, so the window does not keep the receiver's queue from filling.
 * After an EAGAIN, the sender stops, waits for the ACKs and errors of what
 * it has sent, sleeps (BACKOFF_MIN_US, doubling up to BACKOFF_MAX_US while
 * drops go on) and sends the dropped messages again. */
static long publish_and_drain(client *c, const params *p, const uint8_t *payload, size_t size,
                              long count)
{
    long unsent = count, waiting = 0, retransmitted = 0;
    /* The last sleep, or 0 once a whole window was acknowledged after it. */
    long backoff_us = 0, acked_since_resume = 0;
    bool paused = false;
    while (unsent > 0 || waiting > 0) {
        if (paused && waiting == 0) {
            backoff_us = backoff_us == 0 ? BACKOFF_MIN_US
                         : backoff_us * 2 > BACKOFF_MAX_US ? BACKOFF_MAX_US
                                                           : backoff_us * 2;
            usleep((useconds_t)backoff_us);
            paused = false;
            acked_since_resume = 0;
            continue;
        }
        while (!paused && unsent > 0 && waiting < p->window) {
            send_frame(c, CS_BUS_PUBLISH, ++c->last_id, "bench/flow", NULL, payload, size);
            unsent--;
            waiting++;
        }
        cs_bus_frame frame;
        next_frame(c, &frame);
        if (frame.type == CS_BUS_ACK) {
            waiting--;
            if (++acked_since_resume == p->window)
                backoff_us = 0;
        } else if (frame.type == CS_BUS_ERROR) {
            if (!topic_is(&frame, "EAGAIN"))
                die_on_error(&frame, "publish on bench/flow");
            waiting--;
            unsent++;
            retransmitted++;
            paused = true;
        }
    }
    cs_bus_frame reply = request(c, p, "bench/drain", NULL, 0, false);
    char text[24] = {0};
    memcpy(text, reply.payload, reply.payload_len < 23 ? reply.payload_len : 23);
    if (strtol(text, NULL, 10) != count)
        die("pong received %s messages instead of %ld", text, count);
    return retransmitted;
}

static void measure_flow(client *c, const params *p, const uint8_t *payload, size_t size)
{
    phase("flow", size, "warmup");
    publish_and_drain(c, p, payload, size, p->flow_warmup);
    phase("flow", size, "timed");
    uint64_t start = now_ns();
    long retransmitted = publish_and_drain(c, p, payload, size, p->flow_count);
    uint64_t elapsed = now_ns() - start;
    phase("flow", size, "end");
    FILE *f = open_output(p, "flow", size);
    fprintf(f, "messages=%ld bytes=%llu elapsed_ns=%" PRIu64 " retransmitted=%ld\n",
            p->flow_count, (unsigned long long)size * (unsigned long long)p->flow_count, elapsed,
            retransmitted);
    if (fclose(f) != 0)
        die("cannot write the throughput result: %s", strerror(errno));
}

static int run_ping(client *c, const params *p)
{
    wait_for_pong(c, p);
    uint64_t *samples = calloc((size_t)p->rtt_count, sizeof(*samples));
    if (!samples)
        die("out of memory");
    for (size_t s = 0; s < p->nsizes; s++) {
        size_t size = p->sizes[s];
        uint8_t *payload = malloc(size);
        if (!payload)
            die("out of memory");
        memset(payload, 'x', size);
        if (p->rtt)
            measure_rtt(c, p, payload, size, samples);
        if (p->flow)
            measure_flow(c, p, payload, size);
        free(payload);
    }
    free(samples);
    return 0;
}

/* ---- arguments --------------------------------------------------------------- */

static long count_arg(const char *text, const char *name)
{
    char *end;
    long value = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || value < 1 || value > 100000000)
        die("%s must be an integer from 1 to 100000000, got '%s'", name, text);
    return value;
}

static void parse_ping(int argc, char **argv, params *p)
{
    if (argc != 8)
        die("usage: ping PONG_APP_ID rtt|flow|all SIZES RTT_WARMUP RTT_COUNT FLOW_WARMUP "
            "FLOW_COUNT WINDOW");
    p->pong_id = argv[0];
    p->rtt = strcmp(argv[1], "rtt") == 0 || strcmp(argv[1], "all") == 0;
    p->flow = strcmp(argv[1], "flow") == 0 || strcmp(argv[1], "all") == 0;
    if (!p->rtt && !p->flow)
        die("the mode must be rtt, flow or all, got '%s'", argv[1]);
    char *save = NULL;
    for (char *item = strtok_r(argv[2], ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (p->nsizes == MAX_SIZES)
            die("at most %d sizes", MAX_SIZES);
        size_t size = (size_t)count_arg(item, "a size");
        if (size > CS_BUS_PAYLOAD_MAX)
            die("a size must be at most %d bytes, got %zu", CS_BUS_PAYLOAD_MAX, size);
        p->sizes[p->nsizes++] = size;
    }
    p->rtt_warmup = count_arg(argv[3], "RTT_WARMUP");
    p->rtt_count = count_arg(argv[4], "RTT_COUNT");
    p->flow_warmup = count_arg(argv[5], "FLOW_WARMUP");
    p->flow_count = count_arg(argv[6], "FLOW_COUNT");
    p->window = count_arg(argv[7], "WINDOW");
}

int main(int argc, char **argv)
{
    params p = {0};
    int bus_fd = -1, first_app_arg = argc;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            first_app_arg = i + 1;
            break;
        }
        if (strcmp(argv[i], "--bus-fd") == 0 && i + 1 < argc)
            bus_fd = atoi(argv[++i]);
        else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            p.data_dir = argv[++i];
    }
    if (bus_fd < 0 || !p.data_dir)
        die("--bus-fd and --data are missing: run this program through cashstoryd "
            "(CASHSTORY_APP_HOST)");
    if (first_app_arg >= argc)
        die("the role (ping or pong) is missing after '--'");

    client c;
    client_open(&c, bus_fd);
    const char *role = argv[first_app_arg];
    if (strcmp(role, "pong") == 0)
        return run_pong(&c);
    if (strcmp(role, "ping") != 0)
        die("the role must be ping or pong, got '%s'", role);
    parse_ping(argc - first_app_arg - 1, argv + first_app_arg + 1, &p);
    return run_ping(&c, &p);
}
