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
