#include "bus/frame.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static uint8_t *encode(uint8_t type, const char *topic, const char *meta, const char *payload,
                       size_t *len)
{
    cs_bus_frame f = {
        .type = type,
        .id = 0x0102030405060708ULL,
        .topic = (const uint8_t *)topic,
        .topic_len = strlen(topic),
        .meta = (const uint8_t *)meta,
        .meta_len = strlen(meta),
        .payload = (const uint8_t *)payload,
        .payload_len = strlen(payload),
    };
    uint8_t *out = NULL;
    cs_error err = {0};
    assert_int_equal(cs_bus_frame_encode(&f, &out, len, &err), 0);
    return out;
}

static void frame_round_trip(void **state)
{
    (void)state;
    size_t len;
    uint8_t *data =
        encode(CS_BUS_SEND, "quotes/EURUSD", "com.example.blotter", "{\"bid\":1.1}", &len);
    assert_int_equal(len, CS_BUS_HEADER_SIZE + 13 + 19 + 11);
    assert_memory_equal(data, "CS\x01\x04", 4);
    cs_bus_frame f;
    cs_error err = {0};
    assert_int_equal(cs_bus_frame_decode(data, len, &f, &err), 0);
    assert_int_equal(f.type, CS_BUS_SEND);
    assert_true(f.id == 0x0102030405060708ULL);
    assert_int_equal(f.topic_len, 13);
    assert_memory_equal(f.topic, "quotes/EURUSD", 13);
    assert_memory_equal(f.meta, "com.example.blotter", 19);
    assert_memory_equal(f.payload, "{\"bid\":1.1}", 11);
    free(data);
}

static void malformed_frames_rejected(void **state)
{
    (void)state;
    size_t len;
    uint8_t *data = encode(CS_BUS_PUBLISH, "t", "", "x", &len);
    cs_bus_frame f;
    cs_error err = {0};

    data[0] = 'X';
    assert_int_equal(cs_bus_frame_decode(data, len, &f, &err), -EBADMSG);
    assert_non_null(strstr(err.message, "magic"));
    data[0] = 'C';
    data[2] = 2;
    assert_int_equal(cs_bus_frame_decode(data, len, &f, &err), -EBADMSG);
    assert_non_null(strstr(err.message, "version"));
    data[2] = 1;
    data[3] = 99;
    assert_int_equal(cs_bus_frame_decode(data, len, &f, &err), -EBADMSG);
    assert_non_null(strstr(err.message, "unknown type"));
    data[3] = CS_BUS_PUBLISH;
    assert_int_equal(cs_bus_frame_decode(data, len - 1, &f, &err), -EBADMSG);
    assert_int_equal(cs_bus_frame_decode(data, 10, &f, &err), -EBADMSG);
    data[4] = 1;
    assert_int_equal(cs_bus_frame_decode(data, len, &f, &err), -EBADMSG);
    assert_non_null(strstr(err.message, "reserved"));
    data[4] = 0;
    data[CS_BUS_HEADER_SIZE] = 0;
    assert_int_equal(cs_bus_frame_decode(data, len, &f, &err), -EBADMSG);
    assert_non_null(strstr(err.message, "topic"));
    free(data);

    /* Oversized lengths are rejected from the header alone. */
    uint8_t header[CS_BUS_HEADER_SIZE] = {'C', 'S', 1, CS_BUS_PUBLISH};
    size_t size;
    header[20] = 0xff;
    header[21] = 0xff;
    header[22] = 0xff;
    header[23] = 0x7f;
    assert_int_equal(cs_bus_frame_size(header, &size, &err), -EBADMSG);
    assert_non_null(strstr(err.message, "payload"));
    memset(header + 20, 0, 4);
    header[16] = 0x01;
    header[17] = 0x02;
    assert_int_equal(cs_bus_frame_size(header, &size, &err), -EBADMSG);
    assert_non_null(strstr(err.message, "topic"));
}

static void reader_handles_partial_input(void **state)
{
    (void)state;
    size_t len1, len2;
    uint8_t *a = encode(CS_BUS_PUBLISH, "a/b", "", "first", &len1);
    uint8_t *b = encode(CS_BUS_PUBLISH, "c", "", "second payload", &len2);
    uint8_t stream[256];
    memcpy(stream, a, len1);
    memcpy(stream + len1, b, len2);

    cs_bus_reader r;
    cs_bus_reader_init(&r);
    cs_error err = {0};
    uint8_t *frame_data = NULL;
    cs_bus_frame f;
    int frames = 0;
    /* One byte at a time: every split point of both frames. */
    for (size_t i = 0; i < len1 + len2; i++) {
        assert_int_equal(cs_bus_reader_feed(&r, stream + i, 1, &err), 0);
        int rc;
        while ((rc = cs_bus_reader_next(&r, &frame_data, &f, &err)) == 1) {
            frames++;
            if (frames == 1)
                assert_memory_equal(f.payload, "first", 5);
            else
                assert_memory_equal(f.payload, "second payload", 14);
            free(frame_data);
        }
        assert_int_equal(rc, 0);
    }
    assert_int_equal(frames, 2);
    assert_int_equal(r.used, 0);

    /* Garbage is rejected as soon as a header is complete. */
    uint8_t junk[CS_BUS_HEADER_SIZE];
    memset(junk, 0xaa, sizeof(junk));
    assert_int_equal(cs_bus_reader_feed(&r, junk, sizeof(junk), &err), -EBADMSG);
    cs_bus_reader_free(&r);
    free(a);
    free(b);
}

static void encode_rejects_oversized(void **state)
{
    (void)state;
    char *big = malloc(CS_BUS_TOPIC_MAX + 2);
    assert_non_null(big);
    memset(big, 'a', CS_BUS_TOPIC_MAX + 1);
    big[CS_BUS_TOPIC_MAX + 1] = '\0';
    cs_bus_frame f = {
        .type = CS_BUS_PUBLISH, .topic = (const uint8_t *)big, .topic_len = CS_BUS_TOPIC_MAX + 1};
    uint8_t *out = NULL;
    size_t len;
    cs_error err = {0};
    assert_int_equal(cs_bus_frame_encode(&f, &out, &len, &err), -EMSGSIZE);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(frame_round_trip),
        cmocka_unit_test(malformed_frames_rejected),
        cmocka_unit_test(reader_handles_partial_input),
        cmocka_unit_test(encode_rejects_oversized),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
