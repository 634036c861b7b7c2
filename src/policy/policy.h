/* Policy: what administrators allow each app.
 *
 * The file is JSON:
 *   {
 *     "developer_mode": true,
 *     "apps": {
 *       "com.example.chart": {
 *         "fs": [ { "path": "/srv/shared", "access": "read" } ],
 *         "limits": { "memory_mb": 512, "processes": 32, "cpu_percent": 50 }
 *       }
 *     }
 *   }
 * An app gets what its manifest requests AND the policy grants; with no
 * policy file, it gets nothing beyond its own data folder. */
#pragma once

#include "common/error.h"
#include "sandbox/sandbox.h"

#include <jansson.h>
#include <stdbool.h>

#define CS_POLICY_DEFAULT_PATH "/etc/cashstory/policy.json"

typedef struct cs_policy {
    json_t *root; /* NULL when no policy file exists */
    char *path;
} cs_policy;

/* Load the policy at path; with missing_ok an absent file gives the empty
 * policy. Unknown fields and wrong types are errors that name the field. */
int cs_policy_load(cs_policy *policy, const char *path, bool missing_ok, cs_error *err);
void cs_policy_free(cs_policy *policy);

/* Whether unsigned developer folders may run (default: yes without a policy
 * file, no when a policy file exists and does not allow it). */
bool cs_policy_developer_mode(const cs_policy *policy);

/* One decision about a requested file-system path, for logs and messages. */
typedef struct cs_policy_fs_decision {
    char path[1024]; /* expanded host path */
    bool granted;
    bool writable;
    bool requested_write;
    char reason[256];
} cs_policy_fs_decision;

/* Compute the effective file-system grants of app_id from the manifest's
 * "permissions.fs" requests (may be NULL). "~" expands to home; requests
 * below "${APP_DATA}" need no grant because the data folder is always
 * available. Each request gets one decision in decisions (up to max). */
int cs_policy_fs_grants(const cs_policy *policy, const char *app_id, json_t *requests,
                        const char *home, cs_policy_fs_decision *decisions, size_t max,
                        size_t *count, cs_error *err);

/* Effective bus topic patterns for one direction ("publish" or
 * "subscribe"): the manifest's requested patterns, limited by the policy's
 * apps.ID.bus (or apps."*".bus) when the policy has one. A request is kept
 * when a policy pattern covers it. Returns the kept patterns as a new array
 * of new strings in *out (count in *count). */
int cs_policy_bus_grants(const cs_policy *policy, const char *app_id, const char *direction,
                         json_t *requested, char ***out, size_t *count, cs_error *err);
void cs_policy_free_patterns(char **patterns, size_t count);

/* True when the policy has an entry for app_id itself (not "*"). */
bool cs_policy_has_entry(const cs_policy *policy, const char *app_id);

/* Resource limits for app_id: the defaults, changed by the policy. */
void cs_policy_limits(const cs_policy *policy, const char *app_id, cs_sandbox_limits *limits);

/* Update settings for one app (or the "runtime" target): channel, allowed
 * versions, window, how the update lands and the staged rollout. */
typedef struct cs_policy_update {
    char channel[64];         /* "stable" unless policy says otherwise */
    char pinned[128];         /* exact version to keep, "" when not pinned */
    char minimum[128];        /* lowest version that may run or install, "" for any */
    char range[256];          /* semver range such as ">=1.2.0 <2.0.0", "" for any */
    char window[32];          /* "HH:MM-HH:MM" in local time, "" for any time */
    bool at_next_start;       /* false: install at once; true: when the app next starts */
    unsigned rollout_percent; /* 0 to 100: share of desktops that take new versions */
    bool auto_rollback;       /* roll back a version that fails within grace_seconds */
    unsigned grace_seconds;   /* default 60 */
    char repository[64];      /* name of the repository in cs_policy_repository */
} cs_policy_update;

/* A repository that desktops update from. */
typedef struct cs_policy_repository {
    char name[64];
    char url[1024];     /* https://... (http:// only with allow_http) */
    char root[1024];    /* file holding the trusted root metadata */
    char ca_file[1024]; /* CA certificates for the server, "" for the system's */
    bool allow_http;    /* plain HTTP allowed; metadata signatures are still checked */
} cs_policy_repository;

/* Update settings for app_id (publisher may be NULL); the defaults when no
 * policy says otherwise. */
void cs_policy_update_settings(const cs_policy *policy, const char *app_id, const char *publisher,
                               cs_policy_update *out);

/* The repositories policy lists, in name order; returns how many were
 * written to out (at most max). */
size_t cs_policy_repositories(const cs_policy *policy, cs_policy_repository *out, size_t max);
