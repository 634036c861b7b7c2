/* Natives behind cashstory.bus: the socket to the broker, frame reads and
 * writes, and the checks of topics and app ids. bus.js implements the API on
 * top of them (subscriptions, pending calls, JSON). */
#include "app/bus.h"

#include "app/bootstrap.h"
#include "app/host.h"
#include "app/jsutil.h"
#include "app/natives.h"
#include "app/report.h"
#include "common/cleanup.h"
#include "common/utf8.h"
#include "package/manifest.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

/* Bytes asked from the socket per read. A frame larger than this arrives
 * over several reads, which cs_bus_reader joins. */
#define READ_SIZE 65536

/* Largest id that a JavaScript number represents exactly (2^53 - 1). bus.js
 * counts ids up from 1. */
#define MAX_SAFE_ID 9007199254740991.0

typedef struct bus_write {
    uv_write_t req;
    cs_app_host *host;
    uint8_t *data;
} bus_write;

/* Help text for the messages about a wrong --bus-fd. */
#define BUS_FD_HELP "--bus-fd takes the app's end of a Unix stream socket pair to the broker"

static int check_socket(int fd, cs_error *err)
{
    if (fcntl(fd, F_GETFD) < 0)
        return cs_error_errno(err, errno, "--bus-fd %d is not an open file descriptor", fd);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return cs_error_errno(err, errno, "--bus-fd %d: cannot inspect it", fd);
    if (!S_ISSOCK(st.st_mode))
        return cs_error_set(err, ENOTSOCK, "--bus-fd %d is not a socket; " BUS_FD_HELP, fd);

    int domain = 0, type = 0;
    socklen_t len = sizeof(domain);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
        return cs_error_errno(err, errno, "--bus-fd %d: cannot read its socket domain", fd);
    len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return cs_error_errno(err, errno, "--bus-fd %d: cannot read its socket type", fd);
    if (domain != AF_UNIX || type != SOCK_STREAM)
        return cs_error_set(
            err, EPROTOTYPE,
            "--bus-fd %d is not a Unix stream socket (AF_UNIX, SOCK_STREAM); " BUS_FD_HELP, fd);

    struct sockaddr_storage peer;
    len = sizeof(peer);
    if (getpeername(fd, (struct sockaddr *)&peer, &len) < 0)
        return cs_error_errno(err, errno, "--bus-fd %d is not a connected socket", fd);

    /* The host starts no programs, but the socket must never outlive it in
     * one. */
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
        return cs_error_errno(err, errno, "--bus-fd %d: cannot set close-on-exec", fd);
    return 0;
}

int cs_app_bus_init(cs_app_bus *bus, uv_loop_t *loop, int fd, cs_error *err)
{
    memset(bus, 0, sizeof(*bus));
    bus->fd = -1;
    cs_bus_reader_init(&bus->reader);
    if (fd < 0)
        return 0;

    int rc = check_socket(fd, err);
    if (rc < 0)
        return rc;
    bus->read_buffer = malloc(READ_SIZE);
    if (!bus->read_buffer)
        return cs_error_set(err, ENOMEM, "out of memory");
    rc = uv_pipe_init(loop, &bus->pipe, 0);
    if (rc < 0)
        return cs_error_set(err, -rc, "--bus-fd %d: cannot open it: %s", fd, uv_strerror(rc));
    rc = uv_pipe_open(&bus->pipe, fd);
    if (rc < 0) {
        uv_close((uv_handle_t *)&bus->pipe, NULL);
        return cs_error_set(err, -rc, "--bus-fd %d: cannot open it: %s", fd, uv_strerror(rc));
    }
    /* Only bus.js decides when the bus keeps the loop alive. */
    uv_unref((uv_handle_t *)&bus->pipe);
    bus->fd = fd;
    bus->pipe_ready = true;
    return 0;
}

void cs_app_bus_stop(cs_app_bus *bus)
{
    bus->host_stopping = true;
}

static void release_functions(cs_app_bus *bus, JSContextRef ctx)
{
    if (bus->on_frame)
        JSValueUnprotect(ctx, bus->on_frame);
    if (bus->on_close)
        JSValueUnprotect(ctx, bus->on_close);
    bus->on_frame = NULL;
    bus->on_close = NULL;
}

void cs_app_bus_free(cs_app_bus *bus, JSContextRef ctx)
{
    if (ctx)
        release_functions(bus, ctx);
    cs_bus_reader_free(&bus->reader);
    free(bus->read_buffer);
    bus->read_buffer = NULL;
}

/* ---- Closing ---------------------------------------------------------- */

static void on_pipe_closed(uv_handle_t *handle)
{
    cs_app_host *host = handle->data;
    cs_app_bus *bus = &host->bus;
    bus->pipe_ready = false;
    cs_bus_reader_free(&bus->reader);
    if (bus->host_stopping || !bus->on_close)
        return;

    JSValueRef args[] = {cs_app_js_string(host->ctx, bus->close_reason)};
    JSValueRef exception = NULL;
    JSObjectCallAsFunction(host->ctx, bus->on_close, NULL, 1, args, &exception);
    release_functions(bus, host->ctx);
    if (exception)
        cs_app_report_exception(host, "uncaught exception", exception);
}

/* End the connection with a reason that bus.js reports and puts in the
 * errors of the calls still waiting. The pipe closes on a later turn of
 * the loop, so this never calls into JavaScript itself. Later calls keep
 * the first reason. */
static void shut_down(cs_app_host *host, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void shut_down(cs_app_host *host, const char *fmt, ...)
{
    cs_app_bus *bus = &host->bus;
    if (bus->closing || !bus->pipe_ready)
        return;
    bus->closing = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(bus->close_reason, sizeof(bus->close_reason), fmt, ap);
    va_end(ap);
    uv_read_stop((uv_stream_t *)&bus->pipe);
    /* Queued writes end with UV_ECANCELED, which on_write ignores. */
    uv_close((uv_handle_t *)&bus->pipe, on_pipe_closed);
}

/* ---- Reading ------------------------------------------------------------ */

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    cs_app_host *host = handle->data;
    *buf = uv_buf_init((char *)host->bus.read_buffer, READ_SIZE);
}

/* A JS string of len bytes of UTF-8, or undefined when they are not valid
 * UTF-8, so that bus.js treats them as invalid JSON. */
static JSValueRef text_or_undefined(JSContextRef ctx, const uint8_t *bytes, size_t len)
{
    if (!cs_utf8_valid((const char *)bytes, len))
        return JSValueMakeUndefined(ctx);
    return cs_app_js_string_n(ctx, (const char *)bytes, len);
}

/* Call dispatch(type, id, topic, meta, payload). The id is decimal text
 * because broker request ids may exceed 2^53. dispatch returns a string
 * when the frame breaks the protocol (for example a DELIVER whose meta is
 * not an identity), and then the connection ends. */
static void dispatch_frame(cs_app_host *host, const cs_bus_frame *frame)
{
    JSContextRef ctx = host->ctx;
    char id[24];
    snprintf(id, sizeof(id), "%" PRIu64, frame->id);
    JSValueRef args[] = {
        JSValueMakeNumber(ctx, frame->type),
        cs_app_js_string(ctx, id),
        cs_app_js_string_n(ctx, (const char *)frame->topic, frame->topic_len),
        text_or_undefined(ctx, frame->meta, frame->meta_len),
        text_or_undefined(ctx, frame->payload, frame->payload_len),
    };
    JSValueRef exception = NULL;
    JSValueRef result = JSObjectCallAsFunction(ctx, host->bus.on_frame, NULL, 5, args, &exception);
    if (exception)
        cs_app_report_exception(host, "uncaught exception", exception);
    if (result && JSValueIsString(ctx, result)) {
        cs_autofree char *reason = cs_app_js_to_utf8(ctx, result, NULL, NULL);
        shut_down(host, "the broker sent an invalid frame: %s", reason ? reason : "out of memory");
    }
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    cs_app_host *host = stream->data;
    cs_app_bus *bus = &host->bus;
    if (nread == 0)
        return;
    if (nread == UV_EOF) {
        if (bus->reader.used > 0)
            shut_down(host,
                      "the broker closed the connection in the middle of a frame (%zu bytes of "
                      "it received)",
                      bus->reader.used);
        else
            shut_down(host, "the broker closed the connection");
        return;
    }
    if (nread < 0) {
        shut_down(host, "cannot read from the broker: %s", uv_strerror((int)nread));
        return;
    }

    cs_error err;
    if (cs_bus_reader_feed(&bus->reader, buf->base, (size_t)nread, &err) < 0) {
        shut_down(host, "the broker sent an invalid frame: %s", err.message);
        return;
    }
    /* A handler may end the connection (a write that fails at once), so the
     * state is checked before each frame. */
    while (!bus->closing) {
        cs_autofree uint8_t *data = NULL;
        cs_bus_frame frame;
        int rc = cs_bus_reader_next(&bus->reader, &data, &frame, &err);
        if (rc == 0)
            break;
        if (rc < 0) {
            shut_down(host, "the broker sent an invalid frame: %s", err.message);
            break;
        }
        dispatch_frame(host, &frame);
    }
}

/* ---- Writing -------------------------------------------------------------- */

/* Bytes that may wait to be written to the broker. */
#define BUS_QUEUE_MAX (16u * 1024 * 1024)

static void on_write(uv_write_t *req, int status)
{
    bus_write *write = (bus_write *)req;
    cs_app_host *host = write->host;
    free(write->data);
    free(write);
    if (status < 0 && status != UV_ECANCELED)
        shut_down(host, "cannot write to the broker: %s", uv_strerror(status));
}

/* Queue one encoded frame. Returns 0, or a negative code after ending the
 * connection. The caller keeps the queue below BUS_QUEUE_MAX bytes. */
static int queue_write(cs_app_host *host, uint8_t *data, size_t len)
{
    bus_write *write = calloc(1, sizeof(*write));
    if (!write) {
        free(data);
        shut_down(host, "out of memory while writing to the broker");
        return -ENOMEM;
    }
    write->host = host;
    write->data = data;
    uv_buf_t buf = uv_buf_init((char *)data, (unsigned)len);
    int rc = uv_write(&write->req, (uv_stream_t *)&host->bus.pipe, &buf, 1, on_write);
    if (rc < 0) {
        free(data);
        free(write);
        shut_down(host, "cannot write to the broker: %s", uv_strerror(rc));
    }
    return rc;
}

/* ---- Checks ---------------------------------------------------------------- */

/* The reason that topic (len bytes of UTF-8) is invalid, or NULL when it is
 * valid. The syntax is that of permissions.bus in the manifest: segments of
 * letters, digits and "._-" separated by '/', and in a pattern a segment
 * may be '*', which matches exactly one segment. */
static const char *topic_problem(const char *topic, size_t len, bool pattern)
{
    if (len == 0)
        return "it is empty";
    if (len > CS_BUS_TOPIC_MAX)
        return "it is longer than 256 bytes";
    if (topic[0] == '/' || topic[len - 1] == '/')
        return "it starts or ends with '/'";
    for (size_t i = 0; i < len; i++) {
        char c = topic[i];
        if (c == '*') {
            if (!pattern)
                return "'*' is allowed only in the patterns of subscribe and respond";
            bool alone = (i == 0 || topic[i - 1] == '/') && (i + 1 == len || topic[i + 1] == '/');
            if (!alone)
                return "'*' must be a whole segment, as in 'quotes/*'";
        } else if (c == '/') {
            if (topic[i + 1] == '/')
                return "it has an empty segment ('//')";
        } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '.' || c == '_' || c == '-')) {
            return "segments may only contain letters, digits, '.', '_' and '-'";
        }
    }
    return NULL;
}

/* A string argument as UTF-8, or NULL with a TypeError naming api and what
 * in *exception. */
static char *string_arg(JSContextRef ctx, size_t argc, const JSValueRef argv[], size_t i,
                        const char *api, const char *what, size_t *len, JSValueRef *exception)
{
    if (i >= argc || !JSValueIsString(ctx, argv[i])) {
        cs_app_js_throw(ctx, exception, "TypeError", "ERR_INVALID_ARG_TYPE",
                        "%s: the %s must be a string", api, what);
        return NULL;
    }
    char *text = cs_app_js_to_utf8(ctx, argv[i], len, exception);
    if (!text && !*exception)
        cs_app_js_throw(ctx, exception, "RangeError", NULL, "out of memory");
    return text;
}

/* The API name that bus.js passes for messages, such as
 * "cashstory.bus.publish". */
static char *api_name(JSContextRef ctx, size_t argc, const JSValueRef argv[], size_t i)
{
    char *name = NULL;
    if (i < argc && JSValueIsString(ctx, argv[i]))
        name = cs_app_js_to_utf8(ctx, argv[i], NULL, NULL);
    return name ? name : strdup("cashstory.bus");
}

/* ---- Natives ----------------------------------------------------------------- */

/* busStart(dispatch, closed): start reading. dispatch gets each frame and
 * closed(reason) runs once when the connection has ended. Does nothing
 * without a bus or on a second call. */
static JSValueRef native_bus_start(JSContextRef ctx, JSObjectRef function, JSObjectRef self,
                                   size_t argc, const JSValueRef argv[], JSValueRef *exception)
{
    (void)function;
    (void)self;
    cs_app_host *host = cs_app_host_from(ctx);
    cs_app_bus *bus = &host->bus;
    if (argc < 2 || !JSValueIsObject(ctx, argv[0]) ||
        !JSObjectIsFunction(ctx, (JSObjectRef)argv[0]) || !JSValueIsObject(ctx, argv[1]) ||
        !JSObjectIsFunction(ctx, (JSObjectRef)argv[1]))
        return cs_app_js_throw(ctx, exception, "TypeError", NULL, "busStart(dispatch, closed)");
    if (!bus->pipe_ready || bus->reading)
        return JSValueMakeUndefined(ctx);

    bus->on_frame = (JSObjectRef)argv[0];
    bus->on_close = (JSObjectRef)argv[1];
    JSValueProtect(ctx, bus->on_frame);
    JSValueProtect(ctx, bus->on_close);
    bus->reading = true;
    int rc = uv_read_start((uv_stream_t *)&bus->pipe, on_alloc, on_read);
    if (rc < 0)
        shut_down(host, "cannot read from the broker: %s", uv_strerror(rc));
    return JSValueMakeUndefined(ctx);
}

/* UTF-8 of a string argument, or NULL for undefined (an empty field) and
 * when the conversion fails, with *exception set then. */
static char *optional_text(JSContextRef ctx, JSValueRef value, size_t *len, JSValueRef *exception)
{
    if (*exception || JSValueIsUndefined(ctx, value))
        return NULL;
    char *text = cs_app_js_to_utf8(ctx, value, len, exception);
    if (!text && !*exception)
        cs_app_js_throw(ctx, exception, "RangeError", NULL, "out of memory");
    return text;
}

/* Check that the fields fit in a frame: false with a RangeError whose code
 * is EMSGSIZE in *exception when one exceeds its limit. */
static bool check_sizes(JSContextRef ctx, const char *api, size_t topic_len, size_t meta_len,
                        size_t payload_len, JSValueRef *exception)
{
    if (topic_len > CS_BUS_TOPIC_MAX)
        cs_app_js_throw(ctx, exception, "RangeError", "EMSGSIZE",
                        "%s: the topic is %zu bytes, more than the limit of %d", api, topic_len,
                        CS_BUS_TOPIC_MAX);
    else if (meta_len > CS_BUS_META_MAX)
        cs_app_js_throw(ctx, exception, "RangeError", "EMSGSIZE",
                        "%s: the app id or request id is %zu bytes, more than the limit of %d", api,
                        meta_len, CS_BUS_META_MAX);
    else if (payload_len > CS_BUS_PAYLOAD_MAX)
        cs_app_js_throw(ctx, exception, "RangeError", "EMSGSIZE",
                        "%s: the data is %zu bytes as JSON, more than the limit of %d bytes", api,
                        payload_len, CS_BUS_PAYLOAD_MAX);
    else
        return true;
    return false;
}

/* busSend(type, id, topic, meta, payload, api): queue one frame. topic, meta
 * and payload are strings or undefined (empty). Returns undefined when the
 * frame is queued, or the reason the connection ended as a string. Throws
 * a RangeError with code EMSGSIZE when a field exceeds its limit. */
static JSValueRef native_bus_send(JSContextRef ctx, JSObjectRef function, JSObjectRef self,
                                  size_t argc, const JSValueRef argv[], JSValueRef *exception)
{
    (void)function;
    (void)self;
    cs_app_host *host = cs_app_host_from(ctx);
    cs_app_bus *bus = &host->bus;
    cs_autofree char *api = api_name(ctx, argc, argv, 5);
    if (argc < 5)
        return cs_app_js_throw(ctx, exception, "TypeError", NULL,
                               "busSend(type, id, topic, meta, payload, api)");
    double type = JSValueToNumber(ctx, argv[0], NULL);
    double id = JSValueToNumber(ctx, argv[1], NULL);
    if (!(type >= CS_BUS_PUBLISH && type <= CS_BUS_PEERS) || !(id >= 0 && id <= MAX_SAFE_ID))
        return cs_app_js_throw(ctx, exception, "TypeError", NULL,
                               "%s: internal error: invalid frame type or id", api);

    size_t topic_len = 0, meta_len = 0, payload_len = 0;
    cs_autofree char *topic = optional_text(ctx, argv[2], &topic_len, exception);
    cs_autofree char *meta = optional_text(ctx, argv[3], &meta_len, exception);
    cs_autofree char *payload = optional_text(ctx, argv[4], &payload_len, exception);
    if (*exception || !check_sizes(ctx, api, topic_len, meta_len, payload_len, exception))
        return JSValueMakeUndefined(ctx);
    if (bus->fd < 0)
        return cs_app_js_throw(ctx, exception, "Error", "ENOTCONN",
                               "%s: the bus is not available: the app was not started by the "
                               "daemon",
                               api);
    if (bus->closing || !bus->pipe_ready)
        return cs_app_js_string(ctx, bus->close_reason);
    /* An app that writes faster than the broker reads gets an error instead
     * of growing its memory without bound. */
    size_t queued = uv_stream_get_write_queue_size((uv_stream_t *)&host->bus.pipe);
    if (queued + CS_BUS_HEADER_SIZE + topic_len + meta_len + payload_len > BUS_QUEUE_MAX)
        return cs_app_js_throw(ctx, exception, "Error", "EAGAIN",
                               "%s: %zu bytes are still waiting for the broker; try again later",
                               api, queued);

    cs_bus_frame frame = {
        .type = (uint8_t)type,
        .id = (uint64_t)id,
        .topic = (const uint8_t *)topic,
        .topic_len = topic_len,
        .meta = (const uint8_t *)meta,
        .meta_len = meta_len,
        .payload = (const uint8_t *)payload,
        .payload_len = payload_len,
    };
    uint8_t *data = NULL;
    size_t len = 0;
    cs_error err;
    if (cs_bus_frame_encode(&frame, &data, &len, &err) < 0)
        return cs_app_js_throw(ctx, exception, "RangeError", NULL, "%s: %s", api, err.message);
    if (queue_write(host, data, len) < 0)
        return cs_app_js_string(ctx, bus->close_reason);
    return JSValueMakeUndefined(ctx);
}

/* busKeepAlive(flag): whether the socket keeps the event loop running. */
static JSValueRef native_bus_keep_alive(JSContextRef ctx, JSObjectRef function, JSObjectRef self,
                                        size_t argc, const JSValueRef argv[], JSValueRef *exception)
{
    (void)function;
    (void)self;
    (void)exception;
    cs_app_bus *bus = &cs_app_host_from(ctx)->bus;
    if (!bus->pipe_ready || bus->closing)
        return JSValueMakeUndefined(ctx);
    if (argc > 0 && JSValueToBoolean(ctx, argv[0]))
        uv_ref((uv_handle_t *)&bus->pipe);
    else
        uv_unref((uv_handle_t *)&bus->pipe);
    return JSValueMakeUndefined(ctx);
}

/* busCheckTopic(topic, pattern, api): throw a TypeError when topic is not a
 * valid topic (or, with pattern true, a valid pattern). */
static JSValueRef native_bus_check_topic(JSContextRef ctx, JSObjectRef function, JSObjectRef self,
                                         size_t argc, const JSValueRef argv[],
                                         JSValueRef *exception)
{
    (void)function;
    (void)self;
    cs_autofree char *api = api_name(ctx, argc, argv, 2);
    bool pattern = argc > 1 && JSValueToBoolean(ctx, argv[1]);
    const char *what = pattern ? "topic pattern" : "topic";
    size_t len = 0;
    cs_autofree char *topic = string_arg(ctx, argc, argv, 0, api, what, &len, exception);
    if (!topic)
        return JSValueMakeUndefined(ctx);
    const char *problem = topic_problem(topic, len, pattern);
    if (!problem)
        return JSValueMakeUndefined(ctx);
    /* A long topic is shown by its start only. */
    size_t shown = len > 80 ? cs_utf8_truncate(topic, 80) : len;
    return cs_app_js_throw(ctx, exception, "TypeError", "ERR_INVALID_ARG_VALUE",
                           "%s: invalid %s '%.*s%s': %s", api, what, (int)shown, topic,
                           shown < len ? "..." : "", problem);
}

/* busCheckAppId(id, api): throw a TypeError when id is not a valid app id. */
static JSValueRef native_bus_check_app_id(JSContextRef ctx, JSObjectRef function, JSObjectRef self,
                                          size_t argc, const JSValueRef argv[],
                                          JSValueRef *exception)
{
    (void)function;
    (void)self;
    cs_autofree char *api = api_name(ctx, argc, argv, 1);
    size_t len = 0;
    cs_autofree char *id = string_arg(ctx, argc, argv, 0, api, "app id", &len, exception);
    if (!id)
        return JSValueMakeUndefined(ctx);
    cs_error err;
    if (strlen(id) != len || cs_app_id_check(id, &err) < 0)
        return cs_app_js_throw(ctx, exception, "TypeError", "ERR_INVALID_ARG_VALUE",
                               "%s: invalid target app id: %s", api,
                               strlen(id) != len ? "it contains a NUL character" : err.message);
    return JSValueMakeUndefined(ctx);
}

/* sourceURL of bus.js in stack traces. */
#define BUS_SCRIPT_URL "cashstory:bus.js"

/* Evaluate bus.js, which is a function expression, and return it. */
static JSValueRef evaluate_bus_script(cs_app_host *host)
{
    JSStringRef source = cs_app_jsstring_from_utf8(cs_app_bus_js, cs_app_bus_js_len);
    if (!source) {
        fprintf(stderr, "cashstory-app: out of memory\n");
        cs_app_host_exit(host, CS_APP_EXIT_ERROR);
    }
    JSStringRef url = JSStringCreateWithUTF8CString(BUS_SCRIPT_URL);
    JSValueRef exception = NULL;
    JSValueRef fn = JSEvaluateScript(host->ctx, source, NULL, url, 1, &exception);
    JSStringRelease(source);
    JSStringRelease(url);
    if (exception)
        cs_app_report_exception(host, "internal error in the app host's bus.js", exception);
    return fn;
}

void cs_app_bus_install(cs_app_host *host, JSObjectRef natives)
{
    JSContextRef ctx = host->ctx;
    host->bus.pipe.data = host;
    cs_app_js_set(ctx, natives, "busAvailable", JSValueMakeBoolean(ctx, host->bus.fd >= 0));
    cs_app_js_set_function(ctx, natives, "busStart", native_bus_start);
    cs_app_js_set_function(ctx, natives, "busSend", native_bus_send);
    cs_app_js_set_function(ctx, natives, "busKeepAlive", native_bus_keep_alive);
    cs_app_js_set_function(ctx, natives, "busCheckTopic", native_bus_check_topic);
    cs_app_js_set_function(ctx, natives, "busCheckAppId", native_bus_check_app_id);
    cs_app_js_set(ctx, natives, "createBus", evaluate_bus_script(host));
}
