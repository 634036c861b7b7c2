/* The bus wire format between an app and the broker.
 *
 * Every frame is a 24-byte header followed by three byte strings: the topic,
 * the meta field and the payload. All integers are little-endian.
 *
 *   offset size field
 *        0    2 magic, 0x43 0x53 ("CS")
 *        2    1 version, 1
 *        3    1 type (cs_bus_type)
 *        4    2 flags, 0 (reserved)
 *        6    2 meta length, at most CS_BUS_META_MAX
 *        8    8 id: chosen by the app to match replies, acknowledgements and
 *               errors to its frames; 0 when unused
 *       16    2 topic length, at most CS_BUS_TOPIC_MAX
 *       18    2 reserved, 0
 *       20    4 payload length, at most CS_BUS_PAYLOAD_MAX
 *
 * The topic is UTF-8 without NUL bytes. In frames from an app, meta contains the
 * target app id of SEND and REQUEST and the request id of RESPONSE (as
 * decimal text). In frames from the broker, meta holds the sender's identity
 * as a JSON object that only the broker writes; an app cannot set it. The
 * payload is opaque to the broker (the JavaScript API puts JSON text there).
 */
#pragma once

#include "common/error.h"

#include <stddef.h>
#include <stdint.h>

#define CS_BUS_HEADER_SIZE 24
#define CS_BUS_VERSION 1
#define CS_BUS_TOPIC_MAX 256
#define CS_BUS_META_MAX 4096
#define CS_BUS_PAYLOAD_MAX (1024 * 1024)
#define CS_BUS_FRAME_MAX                                                                           \
    (CS_BUS_HEADER_SIZE + CS_BUS_TOPIC_MAX + CS_BUS_META_MAX + CS_BUS_PAYLOAD_MAX)

typedef enum cs_bus_type {
    /* app -> broker */
    CS_BUS_PUBLISH = 1,     /* topic, payload */
    CS_BUS_SUBSCRIBE = 2,   /* topic pattern; id names the subscription */
    CS_BUS_UNSUBSCRIBE = 3, /* id of the subscription */
    CS_BUS_SEND = 4,        /* meta: target app id; topic, payload */
    CS_BUS_REQUEST = 5,     /* meta: target app id; topic, payload; id matches the reply */
    CS_BUS_RESPONSE = 6,    /* meta: the request's broker id; payload */
    CS_BUS_PEERS = 7,       /* requests the list of apps connected now */
    /* broker -> app */
    CS_BUS_WELCOME = 16,    /* meta: the app's own identity */
    CS_BUS_DELIVER = 17,    /* meta: sender identity; topic, payload; id: subscription id,
                               or 0 for SEND */
    CS_BUS_INCOMING = 18,   /* a request: meta sender identity; topic, payload; id: broker
                               request id to answer with RESPONSE */
    CS_BUS_REPLY = 19,      /* meta: responder identity; payload; id: the app's REQUEST id */
    CS_BUS_ACK = 20,        /* id: the app frame that succeeded */
    CS_BUS_ERROR = 21,      /* id: the app frame that failed; payload: UTF-8 message;
                               topic: error code such as "EACCES" */
    CS_BUS_PEER_LIST = 22,  /* payload: JSON array of identities; id: the PEERS id */
    CS_BUS_PEER_EVENT = 23, /* topic: "joined" or "left"; meta: that app's identity */
} cs_bus_type;

typedef struct cs_bus_frame {
    uint8_t type;
    uint64_t id;
    const uint8_t *topic; /* points into the buffer that was decoded */
    size_t topic_len;
    const uint8_t *meta;
    size_t meta_len;
    const uint8_t *payload;
    size_t payload_len;
} cs_bus_frame;

/* Size of the frame whose header starts at data (at least CS_BUS_HEADER_SIZE
 * bytes), after checking the magic, version, reserved fields and the limits.
 * Returns 0 and sets *frame_size, or -EBADMSG with the reason in err. */
int cs_bus_frame_size(const uint8_t *data, size_t *frame_size, cs_error *err);

/* Decode one complete frame of len bytes. The frame's pointers refer to data.
 * Checks everything cs_bus_frame_size checks, that len matches, that the
 * type is known and that the topic is valid UTF-8 without NUL bytes. */
int cs_bus_frame_decode(const uint8_t *data, size_t len, cs_bus_frame *frame, cs_error *err);

/* Encode frame into a new buffer of *len bytes. Returns -EMSGSIZE when a
 * field exceeds its limit. */
int cs_bus_frame_encode(const cs_bus_frame *frame, uint8_t **out, size_t *len, cs_error *err);

/* Incremental reader for a stream: feed it bytes as they arrive and take
 * whole frames out; partial headers and bodies are kept between reads. */
typedef struct cs_bus_reader {
    uint8_t *buf;
    size_t used;
    size_t cap;
} cs_bus_reader;

void cs_bus_reader_init(cs_bus_reader *reader);
void cs_bus_reader_free(cs_bus_reader *reader);

/* Append len bytes. Fails with -EBADMSG as soon as a header is invalid, so a
 * hostile peer cannot make the reader buffer more than one maximal frame. */
int cs_bus_reader_feed(cs_bus_reader *reader, const void *data, size_t len, cs_error *err);

/* Take the next complete frame: returns 1 and copies it into a new buffer
 * (*frame_data, decoded into *frame), 0 when more bytes are needed, or a
 * negative code for a malformed frame. The caller frees *frame_data. */
int cs_bus_reader_next(cs_bus_reader *reader, uint8_t **frame_data, cs_bus_frame *frame,
                       cs_error *err);
