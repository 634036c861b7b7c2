#include "bus/broker.h"

#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

/* One app's end of its socket pair, read with a frame reader. */
typedef struct client {
    int fd;
    cs_bus_reader reader;
} client;

typedef struct fixture {
    uv_loop_t loop;
    cs_broker *broker;
    client feed, blotter, other;
} fixture;

static const char *const quotes[] = {"quotes/*"};
static const char *const orders[] = {"orders/new"};

static void attach(fixture *fx, client *cl, const char *app_id, const char *instance,
                   const cs_bus_grants *grants)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    cl->fd = sv[0];
    cs_bus_reader_init(&cl->reader);
    char identity[512];
    snprintf(identity, sizeof(identity),
             "{\"appId\":\"%s\",\"instanceId\":\"%s\",\"version\":\"1.0.0\","
             "\"publisher\":{\"type\":\"ed25519\",\"keyId\":\"k-%s\"},\"origin\":null,"
             "\"packageDigest\":\"d\"}",
             app_id, instance, app_id);
    cs_error err = {0};
    assert_int_equal(cs_broker_attach(fx->broker, sv[1], identity, grants, NULL, &err), 0);
}

static void send_frame(client *cl, uint8_t type, uint64_t id, const char *topic, const char *meta,
                       const char *payload)
{
    cs_bus_frame f = {
        .type = type,
        .id = id,
        .topic = (const uint8_t *)topic,
        .topic_len = strlen(topic),
        .meta = (const uint8_t *)meta,
        .meta_len = strlen(meta),
        .payload = (const uint8_t *)payload,
        .payload_len = strlen(payload),
    };
    uint8_t *data;
    size_t len;
    cs_error err = {0};
    assert_int_equal(cs_bus_frame_encode(&f, &data, &len, &err), 0);
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(cl->fd, data + done, len - done);
        if (n < 0) {
            struct pollfd p = {.fd = cl->fd, .events = POLLOUT};
            poll(&p, 1, 10);
            continue;
        }
        done += (size_t)n;
    }
    free(data);
}

/* Run the broker until cl has a frame (returns 1), or until about a second
 * passed without one (returns 0), or the connection closed (returns -1). */
static int recv_frame(fixture *fx, client *cl, uint8_t **data, cs_bus_frame *f)
{
    cs_error err = {0};
    for (int i = 0; i < 200; i++) {
        int rc = cs_bus_reader_next(&cl->reader, data, f, &err);
        if (rc == 1)
            return 1;
        uv_run(&fx->loop, UV_RUN_NOWAIT);
        uint8_t buf[65536];
        ssize_t n = read(cl->fd, buf, sizeof(buf));
        if (n == 0)
            return -1;
        if (n > 0) {
            assert_int_equal(cs_bus_reader_feed(&cl->reader, buf, (size_t)n, &err), 0);
            continue;
        }
        struct pollfd p = {.fd = cl->fd, .events = POLLIN};
        poll(&p, 1, 5);
    }
    return 0;
}

static cs_bus_frame expect(fixture *fx, client *cl, uint8_t type, uint8_t **data)
{
    cs_bus_frame f;
    int rc = recv_frame(fx, cl, data, &f);
    if (rc != 1)
        fail_msg("expected a frame of type %u, got none (%d)", type, rc);
    if (f.type != type)
        fail_msg("expected a frame of type %u, got type %u", type, f.type);
    return f;
}

static bool contains(const uint8_t *text, size_t len, const char *needle)
{
    char *copy = strndup((const char *)text, len);
    bool found = copy && strstr(copy, needle) != NULL;
    free(copy);
    return found;
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    uv_loop_init(&fx->loop);
    fx->broker = cs_broker_new(&fx->loop, NULL, NULL);
    cs_bus_grants feed = {.publish = quotes, .npublish = 1};
    cs_bus_grants blotter = {
        .publish = orders, .npublish = 1, .subscribe = quotes, .nsubscribe = 1};
    cs_bus_grants none = {0};
    attach(fx, &fx->feed, "com.example.feed", "feed-1", &feed);
    attach(fx, &fx->blotter, "com.example.blotter", "blotter-1", &blotter);
    attach(fx, &fx->other, "com.example.other", "other-1", &none);

    /* Every client first gets its WELCOME; drain peer events too. */
    client *all[] = {&fx->feed, &fx->blotter, &fx->other};
    for (int i = 0; i < 3; i++) {
        uint8_t *data;
        cs_bus_frame f = expect(fx, all[i], CS_BUS_WELCOME, &data);
        assert_true(contains(f.meta, f.meta_len, "\"instanceId\""));
        free(data);
    }
    for (int i = 0; i < 2; i++) {
        for (int j = i + 1; j < 3; j++) {
            uint8_t *data;
            cs_bus_frame f = expect(fx, all[i], CS_BUS_PEER_EVENT, &data);
            assert_memory_equal(f.topic, "joined", 6);
            free(data);
        }
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    cs_broker_free(fx->broker);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    uv_loop_close(&fx->loop);
    client *all[] = {&fx->feed, &fx->blotter, &fx->other};
    for (int i = 0; i < 3; i++) {
        close(all[i]->fd);
        cs_bus_reader_free(&all[i]->reader);
    }
    free(fx);
    return 0;
}

static void publish_reaches_subscriber(void **state)
{
    fixture *fx = *state;
    uint8_t *data;
    send_frame(&fx->blotter, CS_BUS_SUBSCRIBE, 7, "quotes/*", "", "");
    expect(fx, &fx->blotter, CS_BUS_ACK, &data);
    free(data);

    /* The payload tries to name another sender; the broker's meta wins. */
    send_frame(&fx->feed, CS_BUS_PUBLISH, 1, "quotes/EURUSD", "",
               "{\"bid\":1.1,\"sender\":{\"appId\":\"com.example.bank\"}}");
    expect(fx, &fx->feed, CS_BUS_ACK, &data);
    free(data);
    cs_bus_frame f = expect(fx, &fx->blotter, CS_BUS_DELIVER, &data);
    assert_true(f.id == 7);
    assert_memory_equal(f.topic, "quotes/EURUSD", 13);
    assert_true(contains(f.meta, f.meta_len, "\"appId\":\"com.example.feed\""));
    assert_true(contains(f.meta, f.meta_len, "\"keyId\":\"k-com.example.feed\""));
    assert_false(contains(f.meta, f.meta_len, "com.example.bank"));
    assert_true(contains(f.payload, f.payload_len, "com.example.bank"));
    free(data);
}

static void meta_from_app_ignored(void **state)
{
    fixture *fx = *state;
    uint8_t *data;
    send_frame(&fx->blotter, CS_BUS_SUBSCRIBE, 1, "quotes/*", "", "");
    expect(fx, &fx->blotter, CS_BUS_ACK, &data);
    free(data);
    /* A forged identity in the meta field of a PUBLISH is not forwarded. */
    send_frame(&fx->feed, CS_BUS_PUBLISH, 2, "quotes/X", "{\"appId\":\"com.example.bank\"}", "1");
    expect(fx, &fx->feed, CS_BUS_ACK, &data);
    free(data);
    cs_bus_frame f = expect(fx, &fx->blotter, CS_BUS_DELIVER, &data);
    assert_true(contains(f.meta, f.meta_len, "\"appId\":\"com.example.feed\""));
    assert_false(contains(f.meta, f.meta_len, "com.example.bank"));
    free(data);
}

static void denied_publish_and_subscribe(void **state)
{
    fixture *fx = *state;
    uint8_t *data;
    send_frame(&fx->feed, CS_BUS_PUBLISH, 3, "orders/new", "", "{}");
    cs_bus_frame f = expect(fx, &fx->feed, CS_BUS_ERROR, &data);
    assert_true(f.id == 3);
    assert_memory_equal(f.topic, "EACCES", 6);
    assert_true(contains(f.payload, f.payload_len, "'orders/new'"));
    free(data);

    send_frame(&fx->other, CS_BUS_SUBSCRIBE, 4, "quotes/*", "", "");
    f = expect(fx, &fx->other, CS_BUS_ERROR, &data);
    assert_memory_equal(f.topic, "EACCES", 6);
    assert_true(contains(f.payload, f.payload_len, "'quotes/*'"));
    free(data);

    /* A broader pattern than the grant is not covered. */
    send_frame(&fx->blotter, CS_BUS_SUBSCRIBE, 5, "*/*", "", "");
    f = expect(fx, &fx->blotter, CS_BUS_ERROR, &data);
    assert_memory_equal(f.topic, "EACCES", 6);
    free(data);

    /* The app without the grant never receives the quote. */
    send_frame(&fx->feed, CS_BUS_PUBLISH, 6, "quotes/X", "", "1");
    expect(fx, &fx->feed, CS_BUS_ACK, &data);
    free(data);
    cs_bus_frame none;
    assert_int_equal(recv_frame(fx, &fx->other, &data, &none), 0);
}

static void send_and_request(void **state)
{
    fixture *fx = *state;
    uint8_t *data;
    send_frame(&fx->feed, CS_BUS_SEND, 8, "quotes/direct", "com.example.blotter", "\"hi\"");
    expect(fx, &fx->feed, CS_BUS_ACK, &data);
    free(data);
    cs_bus_frame f = expect(fx, &fx->blotter, CS_BUS_DELIVER, &data);
    assert_true(f.id == 0);
    assert_true(contains(f.meta, f.meta_len, "com.example.feed"));
    free(data);

    send_frame(&fx->feed, CS_BUS_SEND, 9, "quotes/direct", "com.example.nobody", "1");
    f = expect(fx, &fx->feed, CS_BUS_ERROR, &data);
    assert_memory_equal(f.topic, "ENOENT", 6);
    free(data);
    send_frame(&fx->feed, CS_BUS_SEND, 10, "quotes/direct", "com.example.other", "1");
    f = expect(fx, &fx->feed, CS_BUS_ERROR, &data);
    assert_memory_equal(f.topic, "EACCES", 6);
    free(data);

    send_frame(&fx->feed, CS_BUS_REQUEST, 11, "quotes/ask", "com.example.blotter", "{\"q\":1}");
    expect(fx, &fx->feed, CS_BUS_ACK, &data);
    free(data);
    f = expect(fx, &fx->blotter, CS_BUS_INCOMING, &data);
    char broker_id[32];
    snprintf(broker_id, sizeof(broker_id), "%llu", (unsigned long long)f.id);
    free(data);
    send_frame(&fx->blotter, CS_BUS_RESPONSE, 12, "", broker_id, "{\"a\":2}");
    expect(fx, &fx->blotter, CS_BUS_ACK, &data);
    free(data);
    f = expect(fx, &fx->feed, CS_BUS_REPLY, &data);
    assert_true(f.id == 11);
    assert_true(contains(f.meta, f.meta_len, "com.example.blotter"));
    assert_true(contains(f.payload, f.payload_len, "\"a\":2"));
    free(data);

    /* The same response twice, or from another app, finds no request. */
    send_frame(&fx->blotter, CS_BUS_RESPONSE, 13, "", broker_id, "{}");
    f = expect(fx, &fx->blotter, CS_BUS_ERROR, &data);
    assert_memory_equal(f.topic, "ENOENT", 6);
    free(data);
}

static void peers_and_malformed_frames(void **state)
{
    fixture *fx = *state;
    uint8_t *data;
    send_frame(&fx->feed, CS_BUS_PEERS, 14, "", "", "");
    cs_bus_frame f = expect(fx, &fx->feed, CS_BUS_PEER_LIST, &data);
    assert_true(contains(f.payload, f.payload_len, "com.example.blotter"));
    assert_true(contains(f.payload, f.payload_len, "com.example.other"));
    free(data);

    /* Garbage closes only that connection. */
    assert_int_equal(write(fx->other.fd, "garbage that is not a frame....", 31), 31);
    cs_bus_frame g;
    assert_int_equal(recv_frame(fx, &fx->other, &data, &g), -1);
    f = expect(fx, &fx->feed, CS_BUS_PEER_EVENT, &data);
    assert_memory_equal(f.topic, "left", 4);
    assert_true(contains(f.meta, f.meta_len, "com.example.other"));
    free(data);
    assert_int_equal(cs_broker_connection_count(fx->broker), 2);

    /* A broker-only frame type from an app also closes it (after the peer
     * event that was already queued for it). */
    send_frame(&fx->blotter, CS_BUS_DELIVER, 1, "quotes/X", "{}", "1");
    int rc;
    while ((rc = recv_frame(fx, &fx->blotter, &data, &g)) == 1) {
        assert_int_equal(g.type, CS_BUS_PEER_EVENT);
        free(data);
    }
    assert_int_equal(rc, -1);
    assert_int_equal(cs_broker_connection_count(fx->broker), 1);

    send_frame(&fx->feed, CS_BUS_PUBLISH, 15, "quotes/X", "", "1");
    f = expect(fx, &fx->feed, CS_BUS_PEER_EVENT, &data);
    free(data);
    expect(fx, &fx->feed, CS_BUS_ACK, &data);
    free(data);
}

static void slow_receiver_drops(void **state)
{
    fixture *fx = *state;
    uint8_t *data;
    send_frame(&fx->blotter, CS_BUS_SUBSCRIBE, 1, "quotes/*", "", "");
    expect(fx, &fx->blotter, CS_BUS_ACK, &data);
    free(data);

    /* The blotter stops reading; the feed keeps publishing 64 KiB quotes
     * until the broker reports a drop instead of queueing without end. */
    char *big = malloc(65537);
    assert_non_null(big);
    memset(big, 'x', 65536);
    big[65536] = '\0';
    bool dropped = false;
    int sent = 0;
    for (int i = 0; i < 400 && !dropped; i++) {
        send_frame(&fx->feed, CS_BUS_PUBLISH, 100 + (uint64_t)i, "quotes/BIG", "", big);
        sent++;
        cs_bus_frame f;
        assert_int_equal(recv_frame(fx, &fx->feed, &data, &f), 1);
        if (f.type == CS_BUS_ERROR) {
            assert_memory_equal(f.topic, "EAGAIN", 6);
            assert_true(contains(f.payload, f.payload_len, "queue was full"));
            dropped = true;
        } else {
            assert_int_equal(f.type, CS_BUS_ACK);
        }
        free(data);
    }
    free(big);
    assert_true(dropped);
    assert_true(sent > 10);
    assert_true(cs_broker_dropped(fx->broker) >= 1);

    /* The broker still serves the others. */
    send_frame(&fx->feed, CS_BUS_PEERS, 999, "", "", "");
    expect(fx, &fx->feed, CS_BUS_PEER_LIST, &data);
    free(data);
}

static void topic_patterns(void **state)
{
    (void)state;
    assert_true(cs_bus_topic_matches("quotes/*", "quotes/EURUSD"));
    assert_false(cs_bus_topic_matches("quotes/*", "quotes/EUR/USD"));
    assert_false(cs_bus_topic_matches("quotes/*", "quotes"));
    assert_true(cs_bus_topic_matches("a/b", "a/b"));
    assert_false(cs_bus_topic_matches("a/b", "a/bc"));
    assert_true(cs_bus_topic_matches("*/x", "y/x"));
    assert_true(cs_bus_pattern_covered("quotes/*", "quotes/EURUSD"));
    assert_true(cs_bus_pattern_covered("quotes/*", "quotes/*"));
    assert_false(cs_bus_pattern_covered("quotes/EURUSD", "quotes/*"));
    assert_false(cs_bus_pattern_covered("quotes/*", "*/*"));
    assert_false(cs_bus_pattern_covered("quotes/*", "quotes/a/b"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(publish_reaches_subscriber, setup, teardown),
        cmocka_unit_test_setup_teardown(meta_from_app_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(denied_publish_and_subscribe, setup, teardown),
        cmocka_unit_test_setup_teardown(send_and_request, setup, teardown),
        cmocka_unit_test_setup_teardown(peers_and_malformed_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(slow_receiver_drops, setup, teardown),
        cmocka_unit_test(topic_patterns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
