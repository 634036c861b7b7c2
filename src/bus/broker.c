#include "bus/broker.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct subscription {
    uint64_t id;
    char *pattern;
    struct subscription *next;
} subscription;

typedef struct pending_request {
    uint64_t broker_id;
    cs_bus_conn *from;
    uint64_t from_id;
    cs_bus_conn *to;
    struct pending_request *next;
} pending_request;

struct cs_bus_conn {
    uv_pipe_t pipe;
    cs_broker *broker;
    cs_bus_reader reader;
    char *identity;
    char app_id[129];
    char instance_id[65];
    char **publish;
    size_t npublish;
    char **subscribe;
    size_t nsubscribe;
    subscription *subs;
    uint64_t dropped;
    size_t queued;  /* bytes and overhead of frames not written yet */
    size_t pending; /* requests from this connection waiting for a response */
    bool closing;
    cs_bus_conn *next;
};

struct cs_broker {
    uv_loop_t *loop;
    cs_bus_conn *conns;
    size_t nconns;
    pending_request *pending;
    uint64_t next_request_id;
    uint64_t dropped;
    cs_broker_log_fn log;
    void *log_ctx;
    cs_broker_deny_fn deny;
    void *deny_ctx;
};

typedef struct write_request {
    uv_write_t req;
    uint8_t *data;
    cs_bus_conn *conn;
    size_t cost;
} write_request;

/* Memory cost of one queued frame beyond its bytes: the write request and
 * the two allocations behind it. Counted so that many small frames cannot
 * exceed the queue limit in memory while staying under it in bytes. */
#define FRAME_OVERHEAD 128

/* Requests one connection may have waiting for responses. */
#define MAX_PENDING_PER_CONN 1024

static void broker_log(cs_broker *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void broker_log(cs_broker *b, const char *fmt, ...)
{
    if (!b->log)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    b->log(b->log_ctx, line);
}

/* A denied action: the deny hook explains it, or the broker logs it. */
static void denied(cs_broker *b, const cs_bus_conn *c, const char *action, const char *topic)
{
    if (b->deny)
        b->deny(b->deny_ctx, c->app_id, c->instance_id, action, topic);
    else
        broker_log(b, "denied %s '%s' for %s (%s): not granted", action, topic, c->app_id,
                   c->instance_id);
}

/* ---- topics ------------------------------------------------------------ */

/* A topic is 1-256 bytes of letters, digits and "._-/" in segments separated
 * by single '/'; a pattern may also use '*' as a whole segment. */
static bool topic_valid(const uint8_t *topic, size_t len, bool allow_wildcard)
{
    if (len == 0 || len > CS_BUS_TOPIC_MAX || topic[0] == '/' || topic[len - 1] == '/')
        return false;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = topic[i];
        if (c == '*') {
            bool alone = (i == 0 || topic[i - 1] == '/') && (i + 1 == len || topic[i + 1] == '/');
            if (!allow_wildcard || !alone)
                return false;
            continue;
        }
        if (c == '/' && i + 1 < len && topic[i + 1] == '/')
            return false;
        if (!(isalnum(c) || c == '.' || c == '_' || c == '-' || c == '/'))
            return false;
    }
    return true;
}

/* Compare segment by segment; rule(a, b) decides one segment. */
static bool segments_match(const char *a, const char *b,
                           bool (*rule)(const char *, size_t, const char *, size_t))
{
    for (;;) {
        size_t la = strcspn(a, "/"), lb = strcspn(b, "/");
        if (!rule(a, la, b, lb))
            return false;
        a += la;
        b += lb;
        if (*a == '\0' || *b == '\0')
            return *a == *b;
        a++;
        b++;
    }
}

static bool match_rule(const char *p, size_t lp, const char *t, size_t lt)
{
    return (lp == 1 && p[0] == '*') || (lp == lt && memcmp(p, t, lp) == 0);
}

static bool cover_rule(const char *g, size_t lg, const char *p, size_t lp)
{
    /* A grant's '*' covers any one segment of the pattern, '*' included; a
     * literal grant segment covers only the same literal. */
    return (lg == 1 && g[0] == '*') || (lg == lp && memcmp(g, p, lg) == 0);
}

bool cs_bus_topic_matches(const char *pattern, const char *topic)
{
    return segments_match(pattern, topic, match_rule);
}

bool cs_bus_pattern_covered(const char *grant, const char *pattern)
{
    return segments_match(grant, pattern, cover_rule);
}

static bool granted(char **grants, size_t n, const char *pattern)
{
    for (size_t i = 0; i < n; i++)
        if (cs_bus_pattern_covered(grants[i], pattern))
            return true;
    return false;
}

/* ---- writing ----------------------------------------------------------- */

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    write_request *w = (write_request *)req;
    w->conn->queued -= w->cost;
    free(w->data);
    free(w);
}

static void conn_close(cs_bus_conn *c, const char *reason);

/* Queue one frame for c. A droppable frame (a message for a receiver) is
 * dropped when c's queue is full; a reply to c's own request is not, but a
 * connection whose queue grows past twice the limit is not reading and is
 * closed. */
static int conn_write(cs_bus_conn *c, const cs_bus_frame *f, bool droppable)
{
    if (c->closing)
        return -EPIPE;
    size_t queued = c->queued;
    size_t size = CS_BUS_HEADER_SIZE + f->topic_len + f->meta_len + f->payload_len + FRAME_OVERHEAD;
    if (droppable && queued + size > CS_BROKER_QUEUE_MAX) {
        c->dropped++;
        c->broker->dropped++;
        return -EAGAIN;
    }
    if (queued + size > 2 * (size_t)CS_BROKER_QUEUE_MAX) {
        conn_close(c, "its queue is full because it does not read");
        return -EPIPE;
    }
    write_request *w = calloc(1, sizeof(*w));
    size_t len;
    cs_error err = {0};
    if (!w || cs_bus_frame_encode(f, &w->data, &len, &err) < 0) {
        free(w);
        return -ENOMEM;
    }
    w->conn = c;
    w->cost = size;
    uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, on_written);
    if (rc < 0) {
        free(w->data);
        free(w);
        return rc;
    }
    c->queued += size;
    return 0;
}

static void send_simple(cs_bus_conn *c, uint8_t type, uint64_t id)
{
    cs_bus_frame f = {.type = type, .id = id};
    conn_write(c, &f, false);
}

static void send_error(cs_bus_conn *c, uint64_t id, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void send_error(cs_bus_conn *c, uint64_t id, const char *code, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    cs_bus_frame f = {
        .type = CS_BUS_ERROR,
        .id = id,
        .topic = (const uint8_t *)code,
        .topic_len = strlen(code),
        .payload = (const uint8_t *)message,
        .payload_len = strlen(message),
    };
    conn_write(c, &f, false);
}

static int deliver(cs_bus_conn *to, uint8_t type, uint64_t id, const cs_bus_conn *from,
                   const uint8_t *topic, size_t topic_len, const uint8_t *payload,
                   size_t payload_len)
{
    cs_bus_frame f = {
        .type = type,
        .id = id,
        .topic = topic,
        .topic_len = topic_len,
        .meta = (const uint8_t *)from->identity,
        .meta_len = strlen(from->identity),
        .payload = payload,
        .payload_len = payload_len,
    };
    return conn_write(to, &f, true);
}

/* ---- peers ------------------------------------------------------------- */

static void peer_event(cs_broker *b, cs_bus_conn *subject, const char *event)
{
    for (cs_bus_conn *c = b->conns; c; c = c->next) {
        if (c == subject || c->closing)
            continue;
        cs_bus_frame f = {
            .type = CS_BUS_PEER_EVENT,
            .topic = (const uint8_t *)event,
            .topic_len = strlen(event),
            .meta = (const uint8_t *)subject->identity,
            .meta_len = strlen(subject->identity),
        };
        conn_write(c, &f, true);
    }
}

static void send_peers(cs_bus_conn *c, uint64_t id)
{
    size_t cap = 2;
    for (cs_bus_conn *p = c->broker->conns; p; p = p->next)
        if (!p->closing)
            cap += strlen(p->identity) + 1;
    char *list = malloc(cap + 1);
    if (!list) {
        send_error(c, id, "ENOMEM", "out of memory");
        return;
    }
    size_t used = 0;
    list[used++] = '[';
    for (cs_bus_conn *p = c->broker->conns; p; p = p->next) {
        if (p->closing)
            continue;
        if (used > 1)
            list[used++] = ',';
        size_t n = strlen(p->identity);
        memcpy(list + used, p->identity, n);
        used += n;
    }
    list[used++] = ']';
    cs_bus_frame f = {
        .type = CS_BUS_PEER_LIST, .id = id, .payload = (const uint8_t *)list, .payload_len = used};
    if (used > CS_BUS_PAYLOAD_MAX)
        send_error(c, id, "EMSGSIZE", "the peer list exceeds the maximum frame size");
    else
        conn_write(c, &f, false);
    free(list);
}

/* ---- routing ----------------------------------------------------------- */

static void topic_text(const cs_bus_frame *f, char out[CS_BUS_TOPIC_MAX + 1])
{
    memcpy(out, f->topic, f->topic_len);
    out[f->topic_len] = '\0';
}

static void handle_publish(cs_bus_conn *c, const cs_bus_frame *f, const char *topic)
{
    if (!granted(c->publish, c->npublish, topic)) {
        denied(c->broker, c, "publish", topic);
        send_error(c, f->id, "EACCES", "publishing to topic '%s' is not allowed for %s", topic,
                   c->app_id);
        return;
    }
    size_t dropped = 0;
    for (cs_bus_conn *to = c->broker->conns; to; to = to->next) {
        if (to->closing)
            continue;
        for (subscription *s = to->subs; s; s = s->next) {
            if (!cs_bus_topic_matches(s->pattern, topic))
                continue;
            if (deliver(to, CS_BUS_DELIVER, s->id, c, f->topic, f->topic_len, f->payload,
                        f->payload_len) == -EAGAIN)
                dropped++;
        }
    }
    if (dropped)
        send_error(c, f->id, "EAGAIN",
                   "topic '%s': %zu subscriber%s queue was full; the message was dropped for %s",
                   topic, dropped, dropped == 1 ? "'s" : "s'", dropped == 1 ? "it" : "them");
    else
        send_simple(c, CS_BUS_ACK, f->id);
}

static void handle_subscribe(cs_bus_conn *c, const cs_bus_frame *f, const char *pattern)
{
    if (!granted(c->subscribe, c->nsubscribe, pattern)) {
        denied(c->broker, c, "subscribe", pattern);
        send_error(c, f->id, "EACCES", "subscribing to topic '%s' is not allowed for %s", pattern,
                   c->app_id);
        return;
    }
    size_t count = 0;
    for (subscription *s = c->subs; s; s = s->next) {
        if (s->id == f->id) {
            send_error(c, f->id, "EEXIST", "subscription id %" PRIu64 " is already in use", f->id);
            return;
        }
        count++;
    }
    if (count >= 1024) {
        send_error(c, f->id, "ENOSPC", "more than 1024 subscriptions");
        return;
    }
    subscription *s = calloc(1, sizeof(*s));
    if (!s || !(s->pattern = strdup(pattern))) {
        free(s);
        send_error(c, f->id, "ENOMEM", "out of memory");
        return;
    }
    s->id = f->id;
    s->next = c->subs;
    c->subs = s;
    send_simple(c, CS_BUS_ACK, f->id);
}

static void handle_unsubscribe(cs_bus_conn *c, const cs_bus_frame *f)
{
    for (subscription **p = &c->subs; *p; p = &(*p)->next) {
        if ((*p)->id == f->id) {
            subscription *s = *p;
            *p = s->next;
            free(s->pattern);
            free(s);
            send_simple(c, CS_BUS_ACK, f->id);
            return;
        }
    }
    send_error(c, f->id, "ENOENT", "no subscription with id %" PRIu64, f->id);
}

/* The first connected instance of app_id that may receive topic. */
static cs_bus_conn *find_target(cs_bus_conn *from, const char *app_id, const char *topic,
                                const cs_bus_frame *f)
{
    cs_bus_conn *found = NULL;
    for (cs_bus_conn *to = from->broker->conns; to; to = to->next)
        if (!to->closing && strcmp(to->app_id, app_id) == 0) {
            found = to;
            break;
        }
    if (!found) {
        send_error(from, f->id, "ENOENT", "app '%s' is not connected to the bus", app_id);
        return NULL;
    }
    if (!granted(found->subscribe, found->nsubscribe, topic)) {
        denied(from->broker, found, "subscribe", topic);
        send_error(from, f->id, "EACCES", "app '%s' may not receive topic '%s'", app_id, topic);
        return NULL;
    }
    return found;
}

static void handle_send(cs_bus_conn *c, const cs_bus_frame *f, const char *topic, bool request)
{
    char target[CS_BUS_META_MAX + 1];
    if (f->meta_len == 0 || memchr(f->meta, 0, f->meta_len)) {
        send_error(c, f->id, "EINVAL", "the target app id is empty or contains a NUL byte");
        return;
    }
    memcpy(target, f->meta, f->meta_len);
    target[f->meta_len] = '\0';
    if (!granted(c->publish, c->npublish, topic)) {
        denied(c->broker, c, request ? "request" : "send", topic);
        send_error(c, f->id, "EACCES", "sending topic '%s' is not allowed for %s", topic,
                   c->app_id);
        return;
    }
    cs_bus_conn *to = find_target(c, target, topic, f);
    if (!to)
        return;
    if (!request) {
        if (deliver(to, CS_BUS_DELIVER, 0, c, f->topic, f->topic_len, f->payload, f->payload_len) ==
            -EAGAIN)
            send_error(c, f->id, "EAGAIN", "app '%s' has a full queue; the message was dropped",
                       target);
        else
            send_simple(c, CS_BUS_ACK, f->id);
        return;
    }
    if (c->pending >= MAX_PENDING_PER_CONN) {
        send_error(c, f->id, "EAGAIN",
                   "%d requests are already waiting for responses; wait for some first",
                   MAX_PENDING_PER_CONN);
        return;
    }
    pending_request *p = calloc(1, sizeof(*p));
    if (!p) {
        send_error(c, f->id, "ENOMEM", "out of memory");
        return;
    }
    p->broker_id = ++c->broker->next_request_id;
    p->from = c;
    p->from_id = f->id;
    p->to = to;
    if (deliver(to, CS_BUS_INCOMING, p->broker_id, c, f->topic, f->topic_len, f->payload,
                f->payload_len) == -EAGAIN) {
        free(p);
        send_error(c, f->id, "EAGAIN", "app '%s' has a full queue; the request was dropped",
                   target);
        return;
    }
    p->next = c->broker->pending;
    c->broker->pending = p;
    c->pending++;
    send_simple(c, CS_BUS_ACK, f->id);
}

static void handle_response(cs_bus_conn *c, const cs_bus_frame *f)
{
    char text[32];
    if (f->meta_len == 0 || f->meta_len >= sizeof(text)) {
        send_error(c, f->id, "EINVAL", "a response needs the request id in its meta field");
        return;
    }
    memcpy(text, f->meta, f->meta_len);
    text[f->meta_len] = '\0';
    char *end;
    uint64_t broker_id = strtoull(text, &end, 10);
    for (pending_request **pp = &c->broker->pending; *pp; pp = &(*pp)->next) {
        pending_request *p = *pp;
        if (p->broker_id != broker_id || p->to != c)
            continue;
        *pp = p->next;
        p->from->pending--;
        cs_bus_frame reply = {
            .type = CS_BUS_REPLY,
            .id = p->from_id,
            .meta = (const uint8_t *)c->identity,
            .meta_len = strlen(c->identity),
            .payload = f->payload,
            .payload_len = f->payload_len,
        };
        conn_write(p->from, &reply, false);
        free(p);
        send_simple(c, CS_BUS_ACK, f->id);
        return;
    }
    send_error(c, f->id, "ENOENT", "no request %s is waiting for a response from %s", text,
               c->app_id);
}

static void handle_frame(cs_bus_conn *c, const cs_bus_frame *f)
{
    char topic[CS_BUS_TOPIC_MAX + 1];
    topic_text(f, topic);
    switch (f->type) {
    case CS_BUS_PUBLISH:
    case CS_BUS_SEND:
    case CS_BUS_REQUEST:
        if (!topic_valid(f->topic, f->topic_len, false)) {
            send_error(c, f->id, "EINVAL", "'%s' is not a topic", topic);
            return;
        }
        if (f->type == CS_BUS_PUBLISH)
            handle_publish(c, f, topic);
        else
            handle_send(c, f, topic, f->type == CS_BUS_REQUEST);
        return;
    case CS_BUS_SUBSCRIBE:
        if (!topic_valid(f->topic, f->topic_len, true)) {
            send_error(c, f->id, "EINVAL", "'%s' is not a topic pattern", topic);
            return;
        }
        handle_subscribe(c, f, topic);
        return;
    case CS_BUS_UNSUBSCRIBE:
        handle_unsubscribe(c, f);
        return;
    case CS_BUS_RESPONSE:
        handle_response(c, f);
        return;
    case CS_BUS_PEERS:
        send_peers(c, f->id);
        return;
    default:
        /* Broker-to-app types never come from an app. */
        conn_close(c, "it sent a frame type that only the broker sends");
        return;
    }
}

/* ---- connections ------------------------------------------------------- */

static void free_patterns(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

static void on_closed(uv_handle_t *handle)
{
    cs_bus_conn *c = handle->data;
    cs_bus_reader_free(&c->reader);
    while (c->subs) {
        subscription *s = c->subs;
        c->subs = s->next;
        free(s->pattern);
        free(s);
    }
    free_patterns(c->publish, c->npublish);
    free_patterns(c->subscribe, c->nsubscribe);
    free(c->identity);
    free(c);
}

static void conn_close(cs_bus_conn *c, const char *reason)
{
    if (c->closing)
        return;
    c->closing = true;
    cs_broker *b = c->broker;
    broker_log(b, "closed the bus connection of %s (%s): %s", c->app_id, c->instance_id, reason);

    for (cs_bus_conn **p = &b->conns; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            b->nconns--;
            break;
        }
    }
    /* Unlink every request that involves c first, then tell the requesters:
     * an error frame can close a requester whose queue is full, and that
     * nested close edits the pending list too. */
    pending_request *closed_requests = NULL;
    for (pending_request **pp = &b->pending; *pp;) {
        pending_request *p = *pp;
        if (p->from != c && p->to != c) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        p->from->pending--;
        p->next = closed_requests;
        closed_requests = p;
    }
    while (closed_requests) {
        pending_request *p = closed_requests;
        closed_requests = p->next;
        if (p->to == c && p->from != c)
            send_error(p->from, p->from_id, "ECONNRESET",
                       "app '%s' disconnected before it responded", c->app_id);
        free(p);
    }
    peer_event(b, c, "left");
    uv_close((uv_handle_t *)&c->pipe, on_closed);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)handle;
    (void)suggested;
    static char storage[64 * 1024];
    *buf = uv_buf_init(storage, sizeof(storage));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    cs_bus_conn *c = stream->data;
    if (nread == UV_EOF) {
        conn_close(c, "the app closed its end");
        return;
    }
    if (nread < 0) {
        conn_close(c, uv_strerror((int)nread));
        return;
    }
    cs_error err = {0};
    if (cs_bus_reader_feed(&c->reader, buf->base, (size_t)nread, &err) < 0) {
        conn_close(c, err.message);
        return;
    }
    for (;;) {
        uint8_t *data = NULL;
        cs_bus_frame f;
        int rc = cs_bus_reader_next(&c->reader, &data, &f, &err);
        if (rc < 0) {
            conn_close(c, err.message);
            return;
        }
        if (rc == 0)
            return;
        handle_frame(c, &f);
        free(data);
        if (c->closing)
            return;
    }
}

static int copy_patterns(const char *const *in, size_t n, char ***out, size_t *count)
{
    *out = calloc(n ? n : 1, sizeof(char *));
    if (!*out)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!((*out)[i] = strdup(in[i])))
            return -ENOMEM;
        *count = i + 1;
    }
    return 0;
}

int cs_broker_attach(cs_broker *b, int fd, const char *identity_json, const cs_bus_grants *grants,
                     cs_bus_conn **out, cs_error *err)
{
    json_error_t jerr;
    json_t *id = json_loads(identity_json, JSON_REJECT_DUPLICATES, &jerr);
    const char *app_id = json_string_value(json_object_get(id, "appId"));
    const char *instance_id = json_string_value(json_object_get(id, "instanceId"));
    if (!app_id || !instance_id || strlen(app_id) >= 129 || strlen(instance_id) >= 65 ||
        strlen(identity_json) > CS_BUS_META_MAX) {
        json_decref(id);
        close(fd);
        return cs_error_set(err, EINVAL,
                            "bus identity needs appId and instanceId and must fit "
                            "in %d bytes",
                            CS_BUS_META_MAX);
    }
    cs_bus_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        json_decref(id);
        close(fd);
        return cs_error_set(err, ENOMEM, "out of memory");
    }
    snprintf(c->app_id, sizeof(c->app_id), "%s", app_id);
    snprintf(c->instance_id, sizeof(c->instance_id), "%s", instance_id);
    json_decref(id);
    c->broker = b;
    cs_bus_reader_init(&c->reader);
    c->identity = strdup(identity_json);
    if (!c->identity ||
        copy_patterns(grants->publish, grants->npublish, &c->publish, &c->npublish) < 0 ||
        copy_patterns(grants->subscribe, grants->nsubscribe, &c->subscribe, &c->nsubscribe) < 0 ||
        uv_pipe_init(b->loop, &c->pipe, 0) < 0) {
        close(fd);
        c->pipe.data = c;
        on_closed((uv_handle_t *)&c->pipe);
        return cs_error_set(err, ENOMEM, "out of memory");
    }
    c->pipe.data = c;
    int rc = uv_pipe_open(&c->pipe, fd);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
    if (rc < 0) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->pipe, on_closed);
        return cs_error_set(err, -rc, "cannot attach the bus socket: %s", uv_strerror(rc));
    }
    c->next = b->conns;
    b->conns = c;
    b->nconns++;

    cs_bus_frame welcome = {.type = CS_BUS_WELCOME,
                            .meta = (const uint8_t *)c->identity,
                            .meta_len = strlen(c->identity)};
    conn_write(c, &welcome, false);
    peer_event(b, c, "joined");
    broker_log(b, "%s (%s) joined the bus", c->app_id, c->instance_id);
    if (out)
        *out = c;
    return 0;
}

void cs_broker_set_deny_hook(cs_broker *b, cs_broker_deny_fn fn, void *ctx)
{
    b->deny = fn;
    b->deny_ctx = ctx;
}

int cs_broker_update_grants(cs_broker *b, const char *instance_id, const cs_bus_grants *grants,
                            size_t *revoked)
{
    *revoked = 0;
    cs_bus_conn *c = b->conns;
    while (c && (c->closing || strcmp(c->instance_id, instance_id) != 0))
        c = c->next;
    if (!c)
        return -ENOENT;
    char **publish = NULL, **subscribe = NULL;
    size_t npublish = 0, nsubscribe = 0;
    if (copy_patterns(grants->publish, grants->npublish, &publish, &npublish) < 0 ||
        copy_patterns(grants->subscribe, grants->nsubscribe, &subscribe, &nsubscribe) < 0) {
        free_patterns(publish, npublish);
        free_patterns(subscribe, nsubscribe);
        return -ENOMEM;
    }
    free_patterns(c->publish, c->npublish);
    free_patterns(c->subscribe, c->nsubscribe);
    c->publish = publish;
    c->npublish = npublish;
    c->subscribe = subscribe;
    c->nsubscribe = nsubscribe;

    /* Subscriptions the new grants no longer cover end now. */
    for (subscription **p = &c->subs; *p;) {
        if (granted(c->subscribe, c->nsubscribe, (*p)->pattern)) {
            p = &(*p)->next;
            continue;
        }
        subscription *s = *p;
        *p = s->next;
        broker_log(b, "%s (%s): subscription to '%s' ended; policy no longer grants it", c->app_id,
                   c->instance_id, s->pattern);
        free(s->pattern);
        free(s);
        (*revoked)++;
    }
    return 0;
}

void cs_broker_detach_instance(cs_broker *b, const char *instance_id)
{
    for (cs_bus_conn *c = b->conns; c; c = c->next) {
        if (strcmp(c->instance_id, instance_id) == 0) {
            conn_close(c, "the app stopped");
            return;
        }
    }
}

cs_broker *cs_broker_new(uv_loop_t *loop, cs_broker_log_fn log, void *log_ctx)
{
    cs_broker *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->loop = loop;
    b->log = log;
    b->log_ctx = log_ctx;
    return b;
}

void cs_broker_free(cs_broker *b)
{
    if (!b)
        return;
    while (b->conns)
        conn_close(b->conns, "the broker is stopping");
    while (b->pending) {
        pending_request *p = b->pending;
        b->pending = p->next;
        free(p);
    }
    free(b);
}

size_t cs_broker_connection_count(const cs_broker *b)
{
    return b->nconns;
}

uint64_t cs_broker_dropped(const cs_broker *b)
{
    return b->dropped;
}
