/* Preparing an app launch: verify the app, compute its effective
 * permissions from the manifest and the policy, create its data folder and
 * build the sandbox configuration. Shared by 'cashstory run' and the daemon. */
#pragma once

#include "common/error.h"
#include "crypto/trust.h"
#include "package/manifest.h"
#include "package/verify.h"
#include "policy/policy.h"
#include "sandbox/sandbox.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#define CS_LAUNCH_MAX_GRANTS 64
#define CS_LAUNCH_MAX_ARGS 256

typedef struct cs_launch_request {
    const char *target; /* app id, .csa file, or folder with dev */
    bool dev;           /* run an unsigned folder */
    const char *store;  /* store folder */
    const cs_trust *trust;
    const cs_policy *policy;
    const char *home;      /* "~" in grants, or NULL */
    char *const *app_args; /* arguments for the app */
    size_t napp_args;
    bool bus;                /* the app gets a bus socket (started by the daemon) */
    const char *instance_id; /* for the bus identity; required with bus */
    FILE *log;               /* verification problems, and steps when verbose; or NULL */
    bool verbose;            /* log each step with its time */
    const struct timespec *log_start;
} cs_launch_request;

typedef struct cs_launch {
    char app_dir[PATH_MAX];
    char staging[PATH_MAX]; /* temporary extraction of a .csa, removed by cs_launch_free */
    char data_dir[PATH_MAX];
    char host[PATH_MAX];
    char index_hex[65];
    cs_manifest manifest;
    cs_verify_result verified; /* empty in developer mode */

    cs_policy_fs_decision decisions[CS_LAUNCH_MAX_GRANTS];
    size_t ndecisions;
    cs_sandbox_grant grants[CS_LAUNCH_MAX_GRANTS];
    char grant_args[CS_LAUNCH_MAX_GRANTS][PATH_MAX + 8];
    const char *host_argv[16 + 2 * CS_LAUNCH_MAX_GRANTS + CS_LAUNCH_MAX_ARGS];

    char **publish; /* effective bus grants */
    size_t npublish;
    char **subscribe;
    size_t nsubscribe;
    char *identity_json; /* the bus identity the broker stamps on messages */

    cs_sandbox_config config;
} cs_launch;

/* Prepare everything; on verification failures the problems are printed to
 * request->log (when set) and the error names the first. */
int cs_launch_prepare(const cs_launch_request *request, cs_launch *launch, cs_error *err);

void cs_launch_free(cs_launch *launch);

/* Find cashstory-app: $CASHSTORY_APP_HOST, else next to the running program,
 * else in a build tree's src/app, else ../lib/cashstory/. */
int cs_launch_find_host(char *out, size_t size, cs_error *err);
