/* The ZeroMQ contender: REQ/REP for round trips and PUSH/PULL for one-way
 * messages, over ipc:// (Unix sockets). ZeroMQ connects the two peers
 * directly: there is no broker between them. bench/bus runs it.
 *
 * Usage:
 *   bus_zmq pong PREFIX
 *       Bind REP on ipc://PREFIX-rr and PULL on ipc://PREFIX-flow. A
 *       one-part request is echoed. The reply to the two-part request
 *       ("drain", N) is the number of messages pulled since the last drain,
 *       sent once it reaches N. The one-part request "stop" ends pong.
 *   bus_zmq ping PREFIX OUTDIR SIZES RTT_WARMUP RTT_COUNT FLOW_WARMUP FLOW_COUNT
 *       For each size in SIZES (comma-separated bytes): RTT_WARMUP untimed
 *       and RTT_COUNT timed echoes of SIZE bytes; then FLOW_WARMUP pushes and
 *       a drain, and timed: FLOW_COUNT pushes and a drain. Writes
 *       OUTDIR/rtt-SIZE.ns (round-trip times in ns, one a line) and
 *       OUTDIR/flow-SIZE.txt ("messages=N bytes=B elapsed_ns=E
 *       retransmitted=0"). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define MAX_SIZES 8
#define STOP_REQUEST "stop"

typedef struct params {
    const char *outdir;
    size_t sizes[MAX_SIZES];
    size_t nsizes;
    long rtt_warmup, rtt_count, flow_warmup, flow_count;
} params;

static void die(const char *what)
{
    fprintf(stderr, "bus_zmq: %s: %s\n", what, zmq_strerror(zmq_errno()));
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void *open_socket(void *context, int type, const char *prefix, const char *suffix,
                         bool bind)
{
    char endpoint[4096];
    snprintf(endpoint, sizeof(endpoint), "ipc://%s-%s", prefix, suffix);
    void *socket = zmq_socket(context, type);
    if (!socket)
        die("zmq_socket");
    int linger = 0;
    zmq_setsockopt(socket, ZMQ_LINGER, &linger, sizeof(linger));
    if ((bind ? zmq_bind(socket, endpoint) : zmq_connect(socket, endpoint)) < 0)
        die(endpoint);
    return socket;
}

/* ---- pong ------------------------------------------------------------------ */

static bool receive_more(void *socket)
{
    int more = 0;
    size_t len = sizeof(more);
    zmq_getsockopt(socket, ZMQ_RCVMORE, &more, &len);
    return more != 0;
}

/* Pull every message waiting without blocking; returns how many. */
static long pull_waiting(void *pull, zmq_msg_t *message)
{
    long pulled = 0;
    while (zmq_msg_recv(message, pull, ZMQ_DONTWAIT) >= 0)
        pulled++;
    if (zmq_errno() != EAGAIN)
        die("receiving on PULL");
    return pulled;
}

static int run_pong(const char *prefix)
{
    void *context = zmq_ctx_new();
    void *rep = open_socket(context, ZMQ_REP, prefix, "rr", true);
    void *pull = open_socket(context, ZMQ_PULL, prefix, "flow", true);
    zmq_msg_t message, second;
    zmq_msg_init(&message);
    zmq_msg_init(&second);
    long pulled = 0;
    for (;;) {
        zmq_pollitem_t items[2] = {{.socket = rep, .events = ZMQ_POLLIN},
                                   {.socket = pull, .events = ZMQ_POLLIN}};
        if (zmq_poll(items, 2, -1) < 0) {
            if (zmq_errno() == EINTR)
                continue;
            die("zmq_poll");
        }
        if (items[1].revents & ZMQ_POLLIN)
            pulled += pull_waiting(pull, &message);
        if (!(items[0].revents & ZMQ_POLLIN))
            continue;

        if (zmq_msg_recv(&message, rep, 0) < 0)
            die("receiving on REP");
        if (!receive_more(rep)) {
            size_t len = zmq_msg_size(&message);
            if (len == strlen(STOP_REQUEST) && memcmp(zmq_msg_data(&message), STOP_REQUEST, len) == 0) {
                zmq_send(rep, "", 0, 0);
                break;
            }
            if (zmq_msg_send(&message, rep, 0) < 0)
                die("echoing on REP");
            continue;
        }
        /* ("drain", N): reply once N messages have been pulled. */
        if (zmq_msg_recv(&second, rep, 0) < 0)
            die("receiving the drain count");
        char text[32] = {0};
        memcpy(text, zmq_msg_data(&second), zmq_msg_size(&second) < 31 ? zmq_msg_size(&second) : 31);
        long expected = strtol(text, NULL, 10);
        while (pulled < expected) {
            if (zmq_msg_recv(&message, pull, 0) < 0)
                die("receiving on PULL");
            pulled++;
        }
        snprintf(text, sizeof(text), "%ld", pulled);
        if (zmq_send(rep, text, strlen(text), 0) < 0)
            die("answering the drain");
        pulled = 0;
    }
    zmq_msg_close(&message);
    zmq_msg_close(&second);
    zmq_close(rep);
    zmq_close(pull);
    zmq_ctx_term(context);
    return 0;
}

/* ---- ping ------------------------------------------------------------------ */

static void round_trip(void *req, const void *payload, size_t size, char *reply)
{
    if (zmq_send(req, payload, size, 0) < 0)
        die("sending on REQ");
    int n = zmq_recv(req, reply, size, 0);
    if (n < 0)
        die("receiving on REQ");
    if ((size_t)n != size) {
        fprintf(stderr, "bus_zmq: the echo has %d bytes instead of %zu\n", n, size);
        exit(1);
    }
}

static void send_flow(void *push, void *req, const void *payload, size_t size, long count)
{
    for (long i = 0; i < count; i++)
        if (zmq_send(push, payload, size, 0) < 0)
            die("sending on PUSH");
    char text[32];
    snprintf(text, sizeof(text), "%ld", count);
    if (zmq_send(req, "drain", 5, ZMQ_SNDMORE) < 0 || zmq_send(req, text, strlen(text), 0) < 0)
        die("sending the drain");
    char answer[32] = {0};
    if (zmq_recv(req, answer, sizeof(answer) - 1, 0) < 0)
        die("receiving the drain answer");
    if (strtol(answer, NULL, 10) != count) {
        fprintf(stderr, "bus_zmq: pong pulled %s messages instead of %ld\n", answer, count);
        exit(1);
    }
}

static FILE *open_output(const params *p, const char *name, size_t size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s-%zu.%s", p->outdir, name, size,
             strcmp(name, "rtt") == 0 ? "ns" : "txt");
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bus_zmq: cannot create %s: %s\n", path, strerror(errno));
        exit(1);
    }
    return f;
}

static int run_ping(const char *prefix, const params *p)
{
    void *context = zmq_ctx_new();
    void *req = open_socket(context, ZMQ_REQ, prefix, "rr", false);
    void *push = open_socket(context, ZMQ_PUSH, prefix, "flow", false);
    uint64_t *samples = calloc((size_t)p->rtt_count, sizeof(*samples));
    if (!samples)
        die("calloc");
    for (size_t s = 0; s < p->nsizes; s++) {
        size_t size = p->sizes[s];
        char *payload = malloc(size), *reply = malloc(size);
        if (!payload || !reply)
            die("malloc");
        memset(payload, 'x', size);

        for (long i = 0; i < p->rtt_warmup + p->rtt_count; i++) {
            uint64_t start = now_ns();
            round_trip(req, payload, size, reply);
            if (i >= p->rtt_warmup)
                samples[i - p->rtt_warmup] = now_ns() - start;
        }
        FILE *f = open_output(p, "rtt", size);
        for (long i = 0; i < p->rtt_count; i++)
            fprintf(f, "%llu\n", (unsigned long long)samples[i]);
        fclose(f);

        send_flow(push, req, payload, size, p->flow_warmup);
        uint64_t start = now_ns();
        send_flow(push, req, payload, size, p->flow_count);
        uint64_t elapsed = now_ns() - start;
        f = open_output(p, "flow", size);
        fprintf(f, "messages=%ld bytes=%llu elapsed_ns=%llu retransmitted=0\n", p->flow_count,
                (unsigned long long)size * (unsigned long long)p->flow_count,
                (unsigned long long)elapsed);
        fclose(f);
        free(payload);
        free(reply);
    }
    free(samples);
    char empty[1];
    if (zmq_send(req, STOP_REQUEST, strlen(STOP_REQUEST), 0) < 0 || zmq_recv(req, empty, 1, 0) < 0)
        die("stopping pong");
    zmq_close(req);
    zmq_close(push);
    zmq_ctx_term(context);
    return 0;
}

static long count_arg(const char *text, const char *name)
{
    char *end;
    long value = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || value < 1 || value > 100000000) {
        fprintf(stderr, "bus_zmq: %s must be an integer from 1 to 100000000, got '%s'\n", name,
                text);
        exit(2);
    }
    return value;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "pong") == 0)
        return run_pong(argv[2]);
    if (argc != 9 || strcmp(argv[1], "ping") != 0) {
        fprintf(stderr, "usage: bus_zmq pong PREFIX\n"
                        "       bus_zmq ping PREFIX OUTDIR SIZES RTT_WARMUP RTT_COUNT FLOW_WARMUP "
                        "FLOW_COUNT\n");
        return 2;
    }
    params p = {.outdir = argv[3]};
    char *save = NULL;
    for (char *item = strtok_r(argv[4], ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (p.nsizes == MAX_SIZES) {
            fprintf(stderr, "bus_zmq: at most %d sizes\n", MAX_SIZES);
            return 2;
        }
        p.sizes[p.nsizes++] = (size_t)count_arg(item, "a size");
    }
    p.rtt_warmup = count_arg(argv[5], "RTT_WARMUP");
    p.rtt_count = count_arg(argv[6], "RTT_COUNT");
    p.flow_warmup = count_arg(argv[7], "FLOW_WARMUP");
    p.flow_count = count_arg(argv[8], "FLOW_COUNT");
    return run_ping(argv[2], &p);
}
