/* The daemon's update agent: a periodic update run, and the automatic
 * rollback of a freshly updated version that fails soon after it starts.
 *
 * The agent runs every update and every rollback on the libuv thread pool,
 * so the daemon's loop never waits for the network or the update lock. It
 * reads the policy and the trust configuration again for each run, so that
 * policy changes apply from the next run on. The update window, the apply
 * mode ("immediately" or "next-start") and the staged rollout are decided by
 * the update client (update/client.h) for each app. Each outcome is logged
 * as one line through the log callback, on the loop thread. */
#pragma once

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <uv.h>

/* Seconds between update runs, unless $CASHSTORY_UPDATE_INTERVAL sets
 * another number (at least 1). */
#define CS_UPDATE_AGENT_INTERVAL 3600

typedef struct cs_update_agent cs_update_agent;

typedef struct cs_update_agent_config {
    uv_loop_t *loop;
    const char *store;
    const char *policy_location; /* NULL: $CASHSTORY_POLICY, else the default folder */
    const char *trust_path;      /* NULL: the default trust file when it exists */
    const char *const *trusted_keys;
    size_t ntrusted_keys;
    unsigned first_delay; /* seconds before the first run */
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
} cs_update_agent_config;

/* Start the periodic runs. The strings in config must stay valid until
 * cs_update_agent_close. */
int cs_update_agent_start(const cs_update_agent_config *config, cs_update_agent **out,
                          cs_error *err);

/* Report that an instance of app_id at version, started at started, ended
 * (failed: killed by a signal or a non-zero exit status while not being
 * stopped). When policy sets auto_rollback for the app and version is the
 * one the last update installed, a failure within grace_seconds of the
 * start rolls the app back. */
void cs_update_agent_app_exited(cs_update_agent *agent, const char *app_id, const char *version,
                                time_t started, bool failed);

/* Stop the timer and free the agent once the work in progress has ended;
 * the loop keeps running until then. agent may be NULL. */
void cs_update_agent_close(cs_update_agent *agent);
