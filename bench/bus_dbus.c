/* The D-Bus contender: two peers on a private dbus-daemon, with libdbus-1
 * (the reference client library). Round trips are method calls and one-way
 * messages are broadcast signals that the receiver subscribes to with a
 * match rule, the usual D-Bus patterns. bench/bus runs it.
 *
 * Usage:
 *   bus_dbus pong ADDRESS
 *       Own the name com.example.bench.Pong and serve Echo(ay) -> ay,
 *       Drain(u expected) -> u received, Stop(), and count the signals
 *       com.example.bench.Bus.Data.
 *   bus_dbus ping ADDRESS OUTDIR SIZES RTT_WARMUP RTT_COUNT FLOW_WARMUP FLOW_COUNT
 *       For each size in SIZES (comma-separated bytes), it makes RTT_WARMUP
 *       untimed and RTT_COUNT timed calls of Echo with SIZE bytes. Then it
 *       sends FLOW_WARMUP Data signals and calls Drain, and times FLOW_COUNT
 *       Data signals and a Drain call, which returns once pong has counted
 *       them all.
 *       Writes OUTDIR/rtt-SIZE.ns (round-trip times in ns, one a line) and
 *       OUTDIR/flow-SIZE.txt ("messages=N bytes=B elapsed_ns=E
 *       retransmitted=0"). Calls Stop at the end.
 *
 * ADDRESS is a D-Bus address such as unix:path=/tmp/x/bus. */
#define _GNU_SOURCE
#include <dbus/dbus.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PONG_NAME "com.example.bench.Pong"
#define OBJECT_PATH "/com/example/bench"
#define INTERFACE "com.example.bench.Bus"
#define CALL_TIMEOUT_MS 30000
#define MAX_SIZES 8

typedef struct params {
    const char *outdir;
    size_t sizes[MAX_SIZES];
    size_t nsizes;
    long rtt_warmup, rtt_count, flow_warmup, flow_count;
} params;

static void fail(const char *what, const DBusError *error)
{
    fprintf(stderr, "bus_dbus: %s failed: %s\n", what,
            error && dbus_error_is_set(error) ? error->message : "out of memory");
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static DBusConnection *connect_bus(const char *address)
{
    DBusError error;
    dbus_error_init(&error);
    DBusConnection *conn = dbus_connection_open_private(address, &error);
    if (!conn)
        fail("connecting to the bus", &error);
    if (!dbus_bus_register(conn, &error))
        fail("registering on the bus (Hello)", &error);
    return conn;
}

static void send_reply(DBusConnection *conn, DBusMessage *reply)
{
    if (!reply || !dbus_connection_send(conn, reply, NULL))
        fail("sending a reply", NULL);
    dbus_message_unref(reply);
}

/* ---- pong ------------------------------------------------------------------ */

static int run_pong(const char *address)
{
    DBusConnection *conn = connect_bus(address);
    DBusError error;
    dbus_error_init(&error);
    if (dbus_bus_request_name(conn, PONG_NAME, DBUS_NAME_FLAG_DO_NOT_QUEUE, &error) !=
        DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER)
        fail("requesting the name " PONG_NAME, &error);
    dbus_bus_add_match(conn, "type='signal',interface='" INTERFACE "',member='Data'", &error);
    if (dbus_error_is_set(&error))
        fail("adding the match rule for Data signals", &error);

    uint32_t received = 0;
    bool stop = false;
    while (!stop && dbus_connection_read_write(conn, -1)) {
        DBusMessage *message;
        while ((message = dbus_connection_pop_message(conn))) {
            if (dbus_message_is_signal(message, INTERFACE, "Data")) {
                received++;
            } else if (dbus_message_is_method_call(message, INTERFACE, "Echo")) {
                const uint8_t *bytes;
                int len;
                if (!dbus_message_get_args(message, &error, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE,
                                           &bytes, &len, DBUS_TYPE_INVALID))
                    fail("reading the Echo argument", &error);
                DBusMessage *reply = dbus_message_new_method_return(message);
                if (!reply || !dbus_message_append_args(reply, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE,
                                                        &bytes, len, DBUS_TYPE_INVALID))
                    fail("building the Echo reply", NULL);
                send_reply(conn, reply);
            } else if (dbus_message_is_method_call(message, INTERFACE, "Drain")) {
                /* The daemon keeps the order of one sender's messages, so
                 * every signal sent before this call has been counted. */
                DBusMessage *reply = dbus_message_new_method_return(message);
                if (!reply ||
                    !dbus_message_append_args(reply, DBUS_TYPE_UINT32, &received, DBUS_TYPE_INVALID))
                    fail("building the Drain reply", NULL);
                send_reply(conn, reply);
                received = 0;
            } else if (dbus_message_is_method_call(message, INTERFACE, "Stop")) {
                send_reply(conn, dbus_message_new_method_return(message));
                stop = true;
            }
            dbus_message_unref(message);
        }
    }
    dbus_connection_flush(conn);
    dbus_connection_close(conn);
    dbus_connection_unref(conn);
    return 0;
}

/* ---- ping ------------------------------------------------------------------ */

static DBusMessage *call(DBusConnection *conn, DBusMessage *message, const char *what)
{
    DBusError error;
    dbus_error_init(&error);
    DBusMessage *reply =
        dbus_connection_send_with_reply_and_block(conn, message, CALL_TIMEOUT_MS, &error);
    if (!reply)
        fail(what, &error);
    dbus_message_unref(message);
    return reply;
}

static DBusMessage *new_call(const char *method)
{
    DBusMessage *message = dbus_message_new_method_call(PONG_NAME, OBJECT_PATH, INTERFACE, method);
    if (!message)
        fail("dbus_message_new_method_call", NULL);
    return message;
}

static void wait_for_pong(DBusConnection *conn)
{
    DBusError error;
    dbus_error_init(&error);
    for (int attempt = 0; attempt < 1000; attempt++) {
        if (dbus_bus_name_has_owner(conn, PONG_NAME, &error))
            return;
        if (dbus_error_is_set(&error))
            fail("NameHasOwner", &error);
        usleep(10000);
    }
    fprintf(stderr, "bus_dbus: %s did not appear on the bus within 10 s\n", PONG_NAME);
    exit(1);
}

static void round_trip(DBusConnection *conn, const uint8_t *payload, size_t size)
{
    DBusMessage *message = new_call("Echo");
    int len = (int)size;
    if (!dbus_message_append_args(message, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &payload, len,
                                  DBUS_TYPE_INVALID))
        fail("building the Echo call", NULL);
    DBusMessage *reply = call(conn, message, "calling Echo");
    DBusError error;
    dbus_error_init(&error);
    const uint8_t *bytes;
    int echoed;
    if (!dbus_message_get_args(reply, &error, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &bytes, &echoed,
                               DBUS_TYPE_INVALID))
        fail("reading the Echo reply", &error);
    if ((size_t)echoed != size) {
        fprintf(stderr, "bus_dbus: Echo returned %d bytes instead of %zu\n", echoed, size);
        exit(1);
    }
    dbus_message_unref(reply);
}

/* Send count Data signals, then call Drain, which returns after pong has
 * counted them. */
static void send_flow(DBusConnection *conn, const uint8_t *payload, size_t size, long count)
{
    int len = (int)size;
    for (long i = 0; i < count; i++) {
        DBusMessage *signal = dbus_message_new_signal(OBJECT_PATH, INTERFACE, "Data");
        if (!signal ||
            !dbus_message_append_args(signal, DBUS_TYPE_ARRAY, DBUS_TYPE_BYTE, &payload, len,
                                      DBUS_TYPE_INVALID) ||
            !dbus_connection_send(conn, signal, NULL))
            fail("sending a Data signal", NULL);
        dbus_message_unref(signal);
    }
    DBusMessage *message = new_call("Drain");
    uint32_t expected = (uint32_t)count;
    if (!dbus_message_append_args(message, DBUS_TYPE_UINT32, &expected, DBUS_TYPE_INVALID))
        fail("building the Drain call", NULL);
    DBusMessage *reply = call(conn, message, "calling Drain");
    DBusError error;
    dbus_error_init(&error);
    uint32_t received = 0;
    if (!dbus_message_get_args(reply, &error, DBUS_TYPE_UINT32, &received, DBUS_TYPE_INVALID))
        fail("reading the Drain reply", &error);
    if (received != expected) {
        fprintf(stderr, "bus_dbus: pong received %u signals instead of %u\n", received, expected);
        exit(1);
    }
    dbus_message_unref(reply);
}

static FILE *open_output(const params *p, const char *name, size_t size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s-%zu.%s", p->outdir, name, size,
             strcmp(name, "rtt") == 0 ? "ns" : "txt");
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bus_dbus: cannot create %s: %s\n", path, strerror(errno));
        exit(1);
    }
    return f;
}

static int run_ping(const char *address, const params *p)
{
    DBusConnection *conn = connect_bus(address);
    wait_for_pong(conn);
    uint64_t *samples = calloc((size_t)p->rtt_count, sizeof(*samples));
    if (!samples)
        fail("calloc", NULL);
    for (size_t s = 0; s < p->nsizes; s++) {
        size_t size = p->sizes[s];
        uint8_t *payload = malloc(size);
        if (!payload)
            fail("malloc", NULL);
        memset(payload, 'x', size);

        for (long i = 0; i < p->rtt_warmup + p->rtt_count; i++) {
            uint64_t start = now_ns();
            round_trip(conn, payload, size);
            if (i >= p->rtt_warmup)
                samples[i - p->rtt_warmup] = now_ns() - start;
        }
        FILE *f = open_output(p, "rtt", size);
        for (long i = 0; i < p->rtt_count; i++)
            fprintf(f, "%llu\n", (unsigned long long)samples[i]);
        fclose(f);

        send_flow(conn, payload, size, p->flow_warmup);
        uint64_t start = now_ns();
        send_flow(conn, payload, size, p->flow_count);
        uint64_t elapsed = now_ns() - start;
        f = open_output(p, "flow", size);
        fprintf(f, "messages=%ld bytes=%llu elapsed_ns=%llu retransmitted=0\n", p->flow_count,
                (unsigned long long)size * (unsigned long long)p->flow_count,
                (unsigned long long)elapsed);
        fclose(f);
        free(payload);
    }
    free(samples);
    dbus_message_unref(call(conn, new_call("Stop"), "calling Stop"));
    dbus_connection_close(conn);
    dbus_connection_unref(conn);
    return 0;
}

static long count_arg(const char *text, const char *name)
{
    char *end;
    long value = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || value < 1 || value > 100000000) {
        fprintf(stderr, "bus_dbus: %s must be an integer from 1 to 100000000, got '%s'\n", name,
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
        fprintf(stderr, "usage: bus_dbus pong ADDRESS\n"
                        "       bus_dbus ping ADDRESS OUTDIR SIZES RTT_WARMUP RTT_COUNT "
                        "FLOW_WARMUP FLOW_COUNT\n");
        return 2;
    }
    params p = {.outdir = argv[3]};
    char *save = NULL;
    for (char *item = strtok_r(argv[4], ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (p.nsizes == MAX_SIZES) {
            fprintf(stderr, "bus_dbus: at most %d sizes\n", MAX_SIZES);
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
