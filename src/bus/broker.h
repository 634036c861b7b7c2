/* The bus broker: routes frames between app connections and stamps every
 * delivered message with the sender's identity, which the broker was given
 * when the connection was attached and which apps cannot change.
 *
 * Policy for a full receiver: each connection may have at most
 * CS_BROKER_QUEUE_MAX bytes waiting to be written. A message for a receiver
 * whose queue is full is dropped for that receiver, the receiver's drop
 * counter grows, and the sender gets an ERROR frame with code "EAGAIN" that
 * names the receiver of a SEND or REQUEST, or gives the number of receivers
 * whose queue was full for a PUBLISH (which still reaches every other
 * subscriber). A slow
 * receiver therefore never blocks the broker or other apps.
 *
 * A connection that sends a malformed frame is closed and logged; the broker
 * keeps serving the others. */
#pragma once

#include "bus/frame.h"
#include "common/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define CS_BROKER_QUEUE_MAX (4u * 1024 * 1024)

typedef struct cs_broker cs_broker;
typedef struct cs_bus_conn cs_bus_conn;

/* Log one line (no trailing newline) about a broker event. */
typedef void (*cs_broker_log_fn)(void *ctx, const char *line);

cs_broker *cs_broker_new(uv_loop_t *loop, cs_broker_log_fn log, void *log_ctx);

/* Close every connection and free the broker once libuv has released the
 * handles (run the loop afterwards so the close callbacks run). */
void cs_broker_free(cs_broker *broker);

/* What a connection may do, decided by policy before the app starts. */
typedef struct cs_bus_grants {
    const char *const *publish; /* topic patterns the app may publish and send to */
    size_t npublish;
    const char *const *subscribe; /* topic patterns the app may receive */
    size_t nsubscribe;
} cs_bus_grants;

/* Attach the broker's end fd of an app's socket pair. identity_json is the
 * JSON object stamped on the app's messages; its "appId" and "instanceId"
 * must be set. The broker owns fd from now on. */
int cs_broker_attach(cs_broker *broker, int fd, const char *identity_json,
                     const cs_bus_grants *grants, cs_bus_conn **conn, cs_error *err);

/* Replace the grants of a running instance, after a policy change.
 * Subscriptions the new grants do not cover end at once (counted in
 * *revoked); messages already queued are still delivered. Returns -ENOENT
 * when the instance is not connected. */
int cs_broker_update_grants(cs_broker *broker, const char *instance_id, const cs_bus_grants *grants,
                            size_t *revoked);

/* A hook called for each denied action ("publish", "subscribe", "send",
 * "request"), so that the caller can explain it with the policy that
 * decided. Without a hook the broker logs a line itself. */
typedef void (*cs_broker_deny_fn)(void *ctx, const char *app_id, const char *instance_id,
                                  const char *action, const char *topic);
void cs_broker_set_deny_hook(cs_broker *broker, cs_broker_deny_fn fn, void *ctx);

/* Close the connection of an app that stopped (idempotent by instance id). */
void cs_broker_detach_instance(cs_broker *broker, const char *instance_id);

/* Number of connections, and messages dropped for full receivers. */
size_t cs_broker_connection_count(const cs_broker *broker);
uint64_t cs_broker_dropped(const cs_broker *broker);

/* True when the topic pattern matches the topic: segments separated by '/',
 * '*' matches exactly one segment. */
bool cs_bus_topic_matches(const char *pattern, const char *topic);

/* True when every topic that pattern matches is also matched by grant. */
bool cs_bus_pattern_covered(const char *grant, const char *pattern);
