#include "bus/frame.h"

#include "common/utf8.h"

#include <stdlib.h>
#include <string.h>

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static bool known_type(uint8_t type)
{
    return (type >= CS_BUS_PUBLISH && type <= CS_BUS_PEERS) ||
           (type >= CS_BUS_WELCOME && type <= CS_BUS_PEER_EVENT);
}

int cs_bus_frame_size(const uint8_t *h, size_t *frame_size, cs_error *err)
{
    if (h[0] != 'C' || h[1] != 'S')
        return cs_error_set(err, EBADMSG, "bus frame: bad magic bytes 0x%02x 0x%02x", h[0], h[1]);
    if (h[2] != CS_BUS_VERSION)
        return cs_error_set(err, EBADMSG, "bus frame: version %u is not supported (expected %d)",
                            h[2], CS_BUS_VERSION);
    if (get16(h + 4) != 0 || get16(h + 18) != 0)
        return cs_error_set(err, EBADMSG, "bus frame: reserved fields are not zero");
    size_t meta = get16(h + 6), topic = get16(h + 16), payload = get32(h + 20);
    if (meta > CS_BUS_META_MAX)
        return cs_error_set(err, EBADMSG, "bus frame: meta field of %zu bytes exceeds %d", meta,
                            CS_BUS_META_MAX);
    if (topic > CS_BUS_TOPIC_MAX)
        return cs_error_set(err, EBADMSG, "bus frame: topic of %zu bytes exceeds %d", topic,
                            CS_BUS_TOPIC_MAX);
    if (payload > CS_BUS_PAYLOAD_MAX)
        return cs_error_set(err, EBADMSG, "bus frame: payload of %zu bytes exceeds %d", payload,
                            CS_BUS_PAYLOAD_MAX);
    *frame_size = CS_BUS_HEADER_SIZE + topic + meta + payload;
    return 0;
}

int cs_bus_frame_decode(const uint8_t *data, size_t len, cs_bus_frame *f, cs_error *err)
{
    if (len < CS_BUS_HEADER_SIZE)
        return cs_error_set(err, EBADMSG, "bus frame: %zu bytes is shorter than the header", len);
    size_t size = 0;
    int rc = cs_bus_frame_size(data, &size, err);
    if (rc < 0)
        return rc;
    if (size != len)
        return cs_error_set(err, EBADMSG, "bus frame: header says %zu bytes, frame has %zu", size,
                            len);
    memset(f, 0, sizeof(*f));
    f->type = data[3];
    if (!known_type(f->type))
        return cs_error_set(err, EBADMSG, "bus frame: unknown type %u", f->type);
    f->id = get64(data + 8);
    f->topic_len = get16(data + 16);
    f->meta_len = get16(data + 6);
    f->payload_len = get32(data + 20);
    f->topic = data + CS_BUS_HEADER_SIZE;
    f->meta = f->topic + f->topic_len;
    f->payload = f->meta + f->meta_len;
    if (memchr(f->topic, 0, f->topic_len) || !cs_utf8_valid((const char *)f->topic, f->topic_len))
        return cs_error_set(err, EBADMSG, "bus frame: topic is not UTF-8 text");
    return 0;
}

int cs_bus_frame_encode(const cs_bus_frame *f, uint8_t **out, size_t *len, cs_error *err)
{
    if (f->topic_len > CS_BUS_TOPIC_MAX || f->meta_len > CS_BUS_META_MAX ||
        f->payload_len > CS_BUS_PAYLOAD_MAX)
        return cs_error_set(
            err, EMSGSIZE, "bus frame: topic, meta or payload exceeds its limit (%d, %d, %d bytes)",
            CS_BUS_TOPIC_MAX, CS_BUS_META_MAX, CS_BUS_PAYLOAD_MAX);
    size_t size = CS_BUS_HEADER_SIZE + f->topic_len + f->meta_len + f->payload_len;
    uint8_t *buf = malloc(size);
    if (!buf)
        return cs_error_set(err, ENOMEM, "out of memory");
    memset(buf, 0, CS_BUS_HEADER_SIZE);
    buf[0] = 'C';
    buf[1] = 'S';
    buf[2] = CS_BUS_VERSION;
    buf[3] = f->type;
    put16(buf + 6, (uint16_t)f->meta_len);
    put64(buf + 8, f->id);
    put16(buf + 16, (uint16_t)f->topic_len);
    put32(buf + 20, (uint32_t)f->payload_len);
    uint8_t *p = buf + CS_BUS_HEADER_SIZE;
    if (f->topic_len)
        memcpy(p, f->topic, f->topic_len);
    p += f->topic_len;
    if (f->meta_len)
        memcpy(p, f->meta, f->meta_len);
    p += f->meta_len;
    if (f->payload_len)
        memcpy(p, f->payload, f->payload_len);
    *out = buf;
    *len = size;
    return 0;
}

void cs_bus_reader_init(cs_bus_reader *r)
{
    memset(r, 0, sizeof(*r));
}

void cs_bus_reader_free(cs_bus_reader *r)
{
    free(r->buf);
    cs_bus_reader_init(r);
}

int cs_bus_reader_feed(cs_bus_reader *r, const void *data, size_t len, cs_error *err)
{
    if (r->used + len > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->used + len)
            cap *= 2;
        /* One maximal frame plus one read's worth is all a reader holds. */
        if (cap > 2 * (size_t)CS_BUS_FRAME_MAX + 65536)
            return cs_error_set(err, EBADMSG, "bus reader: more than two frames buffered");
        uint8_t *grown = realloc(r->buf, cap);
        if (!grown)
            return cs_error_set(err, ENOMEM, "out of memory");
        r->buf = grown;
        r->cap = cap;
    }
    memcpy(r->buf + r->used, data, len);
    r->used += len;
    if (r->used >= CS_BUS_HEADER_SIZE) {
        size_t size = 0;
        int rc = cs_bus_frame_size(r->buf, &size, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int cs_bus_reader_next(cs_bus_reader *r, uint8_t **frame_data, cs_bus_frame *frame, cs_error *err)
{
    if (r->used < CS_BUS_HEADER_SIZE)
        return 0;
    size_t size = 0;
    int rc = cs_bus_frame_size(r->buf, &size, err);
    if (rc < 0)
        return rc;
    if (r->used < size)
        return 0;
    uint8_t *copy = malloc(size);
    if (!copy)
        return cs_error_set(err, ENOMEM, "out of memory");
    memcpy(copy, r->buf, size);
    memmove(r->buf, r->buf + size, r->used - size);
    r->used -= size;
    rc = cs_bus_frame_decode(copy, size, frame, err);
    if (rc < 0) {
        free(copy);
        return rc;
    }
    *frame_data = copy;
    return 1;
}
