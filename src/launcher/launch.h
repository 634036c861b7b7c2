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
    bool bus;                  /* the app gets a bus socket (started by the daemon) */
    const char *instance_id;   /* for the bus identity; required with bus */
    cs_policy_log *policy_log; /* where policy decisions are recorded; or NULL */
    FILE *log;                 /* verification problems, and steps when verbose; or NULL */
    bool verbose;              /* log each step with its time */
    const struct timespec *log_start;
} cs_launch_request;

/* What policy gives the app, from its manifest's requests. */
typedef struct cs_launch_perms {
    cs_policy_decision run;               /* may the app run at all */
    char *fs_paths[CS_LAUNCH_MAX_GRANTS]; /* granted paths that exist, to mount */
    bool fs_writable[CS_LAUNCH_MAX_GRANTS];
    size_t nfs;
    char **publish; /* granted bus topic patterns */
    size_t npublish;
    char **subscribe;
    size_t nsubscribe;
    cs_sandbox_limits limits;
    bool restart_on_change; /* restart the app when a policy change alters its sandbox */
} cs_launch_perms;

typedef struct cs_launch {
    char app_dir[PATH_MAX];
    char staging[PATH_MAX]; /* temporary extraction of a .csa, removed by cs_launch_free */
    char data_dir[PATH_MAX];
    char host[PATH_MAX];
    char index_hex[65];
    cs_manifest manifest;
    cs_verify_result verified; /* empty in developer mode */

    bool dev;
    cs_launch_perms perms;
    cs_sandbox_grant grants[CS_LAUNCH_MAX_GRANTS];
    char grant_args[CS_LAUNCH_MAX_GRANTS][PATH_MAX + 8];
    const char *host_argv[16 + 2 * CS_LAUNCH_MAX_GRANTS + CS_LAUNCH_MAX_ARGS];

    char *identity_json; /* the bus identity the broker stamps on messages */

    cs_sandbox_config config;
} cs_launch;

/* Prepare everything; on verification failures the problems are printed to
 * request->log (when set) and the error names the first. */
int cs_launch_prepare(const cs_launch_request *request, cs_launch *launch, cs_error *err);

void cs_launch_free(cs_launch *launch);

/* The policy subject of a prepared launch: its app, version, publisher,
 * home folder and data folder. */
void cs_launch_subject(const cs_launch *launch, const char *home, cs_policy_subject *subject);

/* Decide the permissions of a prepared launch under policy (the launch's
 * own, or a newly loaded one). Every decision is recorded in log (may be
 * NULL); with steps, each decision is also printed there. */
int cs_launch_evaluate(const cs_launch *launch, const cs_policy *policy, const char *home,
                       cs_policy_log *log, FILE *steps, cs_launch_perms *out, cs_error *err);
void cs_launch_perms_free(cs_launch_perms *perms);

/* Whether two evaluations give the same sandbox (file-system grants and
 * limits), and the same bus grants. */
bool cs_launch_perms_same_sandbox(const cs_launch_perms *a, const cs_launch_perms *b);
bool cs_launch_perms_same_bus(const cs_launch_perms *a, const cs_launch_perms *b);

/* Find cashstory-app: $CASHSTORY_APP_HOST, else next to the running program,
 * else in a build tree's src/app, else ../lib/cashstory/. */
int cs_launch_find_host(char *out, size_t size, cs_error *err);
