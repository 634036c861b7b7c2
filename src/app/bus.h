/* The app's side of the bus: the socket to the broker that --bus-fd names.
 *
 * bus.c reads frames (src/bus/frame.h) from the socket without blocking the
 * loop and passes each one to a dispatch function of bus.js, which
 * implements cashstory.bus. Writes are queued with uv_write, which finishes
 * partial writes. The socket keeps the event loop alive only while bus.js
 * requests it (busKeepAlive): while the app has subscriptions, respond
 * handlers or calls waiting for the broker. */
#pragma once

#include "bus/frame.h"
#include "common/error.h"

#include <JavaScriptCore/JavaScript.h>
#include <stdbool.h>
#include <uv.h>

typedef struct cs_app_bus {
    int fd;             /* --bus-fd, or -1 when the app has no bus */
    uv_pipe_t pipe;     /* the socket; pipe.data is the host */
    bool pipe_ready;    /* uv_pipe_open succeeded and the pipe is not closed yet */
    bool reading;       /* bus.js called busStart */
    bool closing;       /* the connection ended and the pipe is closing */
    bool host_stopping; /* the host is freeing the loop: no more calls into JavaScript */
    char close_reason[512];
    uint8_t *read_buffer;
    cs_bus_reader reader;
    JSObjectRef on_frame; /* protected: dispatch(type, id, topic, meta, payload) */
    JSObjectRef on_close; /* protected: closed(reason) */
} cs_app_bus;

/* Check that fd is an open, connected AF_UNIX SOCK_STREAM socket and open
 * it on loop. With fd -1 the app has no bus and this only marks it so. */
int cs_app_bus_init(cs_app_bus *bus, uv_loop_t *loop, int fd, cs_error *err);

/* Stop calling into JavaScript. The host calls this before it closes every
 * handle of the loop. */
void cs_app_bus_stop(cs_app_bus *bus);

/* Release the reader and the protected functions. Call after the loop has
 * closed the pipe and before the context is released. */
void cs_app_bus_free(cs_app_bus *bus, JSContextRef ctx);
