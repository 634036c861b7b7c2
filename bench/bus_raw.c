/* The floor for any broker: two peers exchange fixed-size messages over
 * AF_UNIX stream sockets, either through a relay process that copies bytes
 * from one socket to the other and back (one brokered hop, no framing, no
 * routing) or directly. bench/bus runs it next to the other contenders.
 *
 * Usage:
 *   bus_raw relay PATH
 *       Listen on PATH, accept two connections and copy bytes between them
 *       until one side closes.
 *   bus_raw pong PATH|--listen PATH SIZES RTT_WARMUP RTT_COUNT FLOW_WARMUP FLOW_COUNT
 *   bus_raw ping PATH OUTDIR SIZES RTT_WARMUP RTT_COUNT FLOW_WARMUP FLOW_COUNT
 *       The two peers. ping connects to PATH (retrying until it exists).
 *       pong connects to the relay's PATH, or with --listen accepts ping
 *       on PATH itself (the direct variant). SIZES is a comma-separated list
 *       of payload sizes in bytes.
 *
 * For each size, in order, both peers run:
 *   round trips: ping writes SIZE bytes and pong writes them back, RTT_WARMUP
 *     untimed times and then RTT_COUNT timed times;
 *   one way: ping writes FLOW_WARMUP messages, pong writes one byte back when
 *     it has read them all, then ping starts the clock, writes FLOW_COUNT
 *     messages and stops the clock when pong's byte for those arrives.
 * ping writes OUTDIR/rtt-SIZE.ns (the round-trip times in ns, one a line)
 * and OUTDIR/flow-SIZE.txt ("messages=N bytes=B elapsed_ns=E
 * retransmitted=0"). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZES 8
#define RELAY_BUFFER (64 * 1024)

typedef struct params {
    const char *outdir;
    size_t sizes[MAX_SIZES];
    size_t nsizes;
    long rtt_warmup, rtt_count, flow_warmup, flow_count;
} params;

static void die(const char *what)
{
    fprintf(stderr, "bus_raw: %s: %s\n", what, strerror(errno));
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("write");
        p += n;
        len -= (size_t)n;
    }
}

static void read_all(int fd, void *data, size_t len)
{
    char *p = data;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0) {
            fprintf(stderr, "bus_raw: the peer closed the connection early\n");
            exit(1);
        }
        if (n < 0)
            die("read");
        p += n;
        len -= (size_t)n;
    }
}

static struct sockaddr_un address_of(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path)) {
        fprintf(stderr, "bus_raw: socket path %s is longer than %zu bytes\n", path,
                sizeof(addr.sun_path) - 1);
        exit(2);
    }
    strcpy(addr.sun_path, path);
    return addr;
}

static int listen_on(const char *path)
{
    struct sockaddr_un addr = address_of(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    unlink(path);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 4) < 0)
        die(path);
    return fd;
}

/* Connect to path, retrying for up to 10 s while nothing listens there. */
static int connect_to(const char *path)
{
    struct sockaddr_un addr = address_of(path);
    for (int attempt = 0; attempt < 1000; attempt++) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            die("socket");
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
            return fd;
        close(fd);
        if (errno != ENOENT && errno != ECONNREFUSED)
            die(path);
        usleep(10000);
    }
    fprintf(stderr, "bus_raw: nothing listens on %s after 10 s\n", path);
    exit(1);
}

/* Copy what arrives on either socket to the other. A blocking write applies
 * backpressure. It does not deadlock with the peers of this file, because
 * they never write towards each other at the same time. */
static int run_relay(const char *path)
{
    int listener = listen_on(path);
    int peer[2];
    for (int i = 0; i < 2; i++)
        if ((peer[i] = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) < 0)
            die("accept");
    close(listener);
    static char buffer[RELAY_BUFFER];
    struct pollfd fds[2] = {{.fd = peer[0], .events = POLLIN}, {.fd = peer[1], .events = POLLIN}};
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        for (int i = 0; i < 2; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(peer[i], buffer, sizeof(buffer));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return 0;
            write_all(peer[1 - i], buffer, (size_t)n);
        }
    }
}

static void write_samples(const params *p, size_t size, const uint64_t *samples)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/rtt-%zu.ns", p->outdir, size);
    FILE *f = fopen(path, "w");
    if (!f)
        die(path);
    for (long i = 0; i < p->rtt_count; i++)
        fprintf(f, "%llu\n", (unsigned long long)samples[i]);
    if (fclose(f) != 0)
        die(path);
}

static void write_flow(const params *p, size_t size, uint64_t elapsed)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/flow-%zu.txt", p->outdir, size);
    FILE *f = fopen(path, "w");
    if (!f)
        die(path);
    fprintf(f, "messages=%ld bytes=%llu elapsed_ns=%llu retransmitted=0\n", p->flow_count,
            (unsigned long long)size * (unsigned long long)p->flow_count,
            (unsigned long long)elapsed);
    if (fclose(f) != 0)
        die(path);
}

static void run_ping(int fd, const params *p)
{
    uint64_t *samples = calloc((size_t)p->rtt_count, sizeof(*samples));
    if (!samples)
        die("calloc");
    for (size_t s = 0; s < p->nsizes; s++) {
        size_t size = p->sizes[s];
        char *message = malloc(size), *echo = malloc(size);
        if (!message || !echo)
            die("malloc");
        memset(message, 'x', size);

        for (long i = 0; i < p->rtt_warmup + p->rtt_count; i++) {
            uint64_t start = now_ns();
            write_all(fd, message, size);
            read_all(fd, echo, size);
            if (i >= p->rtt_warmup)
                samples[i - p->rtt_warmup] = now_ns() - start;
        }
        write_samples(p, size, samples);

        char done;
        for (long i = 0; i < p->flow_warmup; i++)
            write_all(fd, message, size);
        read_all(fd, &done, 1);
        uint64_t start = now_ns();
        for (long i = 0; i < p->flow_count; i++)
            write_all(fd, message, size);
        read_all(fd, &done, 1);
        write_flow(p, size, now_ns() - start);
        free(message);
        free(echo);
    }
    free(samples);
}

static void run_pong(int fd, const params *p)
{
    for (size_t s = 0; s < p->nsizes; s++) {
        size_t size = p->sizes[s];
        char *message = malloc(size);
        if (!message)
            die("malloc");
        for (long i = 0; i < p->rtt_warmup + p->rtt_count; i++) {
            read_all(fd, message, size);
            write_all(fd, message, size);
        }
        const long phases[2] = {p->flow_warmup, p->flow_count};
        for (int phase = 0; phase < 2; phase++) {
            for (long i = 0; i < phases[phase]; i++)
                read_all(fd, message, size);
            write_all(fd, "d", 1);
        }
        free(message);
    }
}

static long count_arg(const char *text, const char *name)
{
    char *end;
    long value = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || value < 1 || value > 100000000) {
        fprintf(stderr, "bus_raw: %s must be an integer from 1 to 100000000, got '%s'\n", name,
                text);
        exit(2);
    }
    return value;
}

static void parse_sizes(const char *text, params *p)
{
    char *copy = strdup(text), *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (p->nsizes == MAX_SIZES) {
            fprintf(stderr, "bus_raw: at most %d sizes\n", MAX_SIZES);
            exit(2);
        }
        p->sizes[p->nsizes++] = (size_t)count_arg(item, "a size");
    }
    free(copy);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bus_raw relay PATH\n"
            "       bus_raw pong PATH|--listen PATH SIZES RTT_WARMUP RTT_COUNT FLOW_WARMUP "
            "FLOW_COUNT\n"
            "       bus_raw ping PATH OUTDIR SIZES RTT_WARMUP RTT_COUNT FLOW_WARMUP FLOW_COUNT\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "relay") == 0)
        return run_relay(argv[2]);

    params p = {0};
    bool ping = argc == 9 && strcmp(argv[1], "ping") == 0;
    bool listen_mode = argc == 9 && strcmp(argv[1], "pong") == 0 && strcmp(argv[2], "--listen") == 0;
    bool pong = (argc == 8 && strcmp(argv[1], "pong") == 0) || listen_mode;
    if (!ping && !pong)
        usage();
    const char *path = listen_mode ? argv[3] : argv[2];
    char **rest = ping || listen_mode ? argv + 4 : argv + 3;
    if (ping)
        p.outdir = argv[3];
    parse_sizes(rest[0], &p);
    p.rtt_warmup = count_arg(rest[1], "RTT_WARMUP");
    p.rtt_count = count_arg(rest[2], "RTT_COUNT");
    p.flow_warmup = count_arg(rest[3], "FLOW_WARMUP");
    p.flow_count = count_arg(rest[4], "FLOW_COUNT");

    int fd;
    if (listen_mode) {
        int listener = listen_on(path);
        if ((fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) < 0)
            die("accept");
        close(listener);
    } else {
        fd = connect_to(path);
    }
    if (ping)
        run_ping(fd, &p);
    else
        run_pong(fd, &p);
    close(fd);
    return 0;
}
