/* Group policy: what administrators allow each app.
 *
 * Policy is JSON files in a folder: managed/NAME.json (mandatory) and
 * recommended/NAME.json (defaults), read in lexical file order. A single file
 * may stand in for the folder; it is read as managed policy. docs/policy.md
 * describes every setting.
 *
 * Every component takes its decisions from this module: the launcher (may
 * the app run, with which grants and limits), the bus broker (topics), the
 * update client (channel, versions, window) and the commands that explain
 * them. A decision names the file and the rule that made it.
 *
 * Precedence, for each setting and each request:
 *   1. managed beats recommended;
 *   2. within a level, the most specific scope wins: apps."<exact id>", then
 *      apps."<id pattern>", then publishers."<publisher>", then defaults;
 *   3. on a tie (same level and scope kind), deny beats allow: false beats
 *      true, a deny rule beats an allow rule, read beats read-write, the lower
 *      limit wins; settings that are neither (channel, window, ...) take the
 *      value of the file later in lexical order.
 * A request that no rule grants is denied; an app gets what its manifest
 * requests AND policy grants.
 *
 * A file that cannot be used never widens what apps get: a file that does
 * not parse, or has an error outside defaults/publishers/apps, denies
 * everything to every app; an error inside one scope (say apps."com.x")
 * denies everything to the apps that scope covers. The problem is kept in
 * cs_policy.problems for the caller to log. When the process runs as root,
 * files and folders not owned by root or writable by group or others are
 * ignored, with a problem recorded. */
#pragma once

#include "common/error.h"
#include "sandbox/sandbox.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CS_POLICY_DEFAULT_DIR "/etc/cashstory/policies"
#define CS_POLICY_FILE_MAX (1024 * 1024)
#define CS_POLICY_MAX_FILES 256

typedef enum cs_policy_level {
    CS_POLICY_RECOMMENDED = 0,
    CS_POLICY_MANAGED = 1,
} cs_policy_level;

/* One problem found while reading policy: the file and what is wrong. */
typedef struct cs_policy_problem {
    char *file;
    char *message;
    bool ignored; /* the file was not read for its owner or mode (it still fails closed) */
} cs_policy_problem;

/* A scope that failed validation and now denies everything it covers. */
typedef struct cs_policy_broken {
    char kind;   /* 'f' whole file, 'd' defaults, 'p' publisher, 'a' app */
    char *key;   /* publisher or app key; NULL for 'f' and 'd' */
    char *error; /* the validation error */
} cs_policy_broken;

typedef struct cs_policy_file {
    char *path;
    cs_policy_level level;
    json_t *root; /* validated content; broken scopes removed; NULL if the file is broken */
    cs_policy_broken *broken;
    size_t nbroken;
} cs_policy_file;

typedef struct cs_policy {
    char *location; /* the folder or file read; NULL when there is no policy */
    bool present;   /* at least one policy file exists (even a broken one) */
    cs_policy_file *files;
    size_t nfiles;
    cs_policy_problem *problems;
    size_t nproblems;
} cs_policy;

/* Read the policy at location: a folder with managed/ and recommended/, or
 * one file (managed). With missing_ok an absent location gives the empty
 * policy. Problems in files never fail the load; they are recorded in
 * policy->problems and fail closed as described above. Returns an error
 * only when location exists but cannot be read at all. */
int cs_policy_load(cs_policy *policy, const char *location, bool missing_ok, cs_error *err);
void cs_policy_free(cs_policy *policy);

/* The location named by explicit (an option), else $CASHSTORY_POLICY, else
 * the default folder. *missing_ok is set when the location may be absent. */
const char *cs_policy_location(const char *explicit_location, bool *missing_ok);

/* Print every problem as one line "policy: FILE: MESSAGE" to out. */
void cs_policy_print_problems(const cs_policy *policy, FILE *out, const char *prefix);

/* Who is asking: an app, its publisher and the values that paths expand. */
typedef struct cs_policy_subject {
    const char *app_id;
    const char *version;           /* NULL when unknown */
    const char *publisher_key;     /* signing key id (64 hex digits); NULL when unsigned */
    const char *publisher_cert;    /* X.509: SHA-256 of the certificate; else NULL */
    const char *publisher_subject; /* X.509: RFC 2253 subject; else NULL */
    const char *home;              /* "~" */
    const char *app_data;          /* "${APP_DATA}" */
} cs_policy_subject;

/* One decision and where it came from. */
typedef struct cs_policy_decision {
    bool granted;
    bool writable;     /* file system: read-write granted */
    char target[1100]; /* what was decided, for messages: "fs read '/srv/x'", "bus publish 'a/b'" */
    char path[1024];   /* file system: the resolved path to mount */
    char file[512];    /* policy file of the deciding rule; "" for a built-in rule */
    char rule[600];    /* the deciding rule, e.g. managed apps."com.x".fs[0] = "/srv/shared" */
    char reason[2300]; /* one sentence for logs and explain */
} cs_policy_decision;

/* May the app run? Checks broken scopes, blocked publishers, the run
 * allow/block lists, and versions (minimum, pinned, range). With dev, the
 * app is an unpacked folder: developer_mode and unsigned_folders must be
 * allowed (both are allowed when no policy file exists at all). */
void cs_policy_may_run(const cs_policy *policy, const cs_policy_subject *subject, bool dev,
                       cs_policy_decision *decision);

/* A requested file-system path (as the manifest writes it: absolute, "~/..."
 * or "${APP_DATA}/...") for read or read-write. The path is expanded and
 * resolved (symbolic links followed), so a link cannot reach outside a
 * granted folder; decision->target is the resolved path to mount. Paths
 * below the app's data folder are always granted. */
void cs_policy_fs(const cs_policy *policy, const cs_policy_subject *subject, const char *path,
                  bool want_write, cs_policy_decision *decision);

/* A bus topic pattern the manifest requests; direction is "publish" or
 * "subscribe". A deny rule that overlaps the pattern denies it. */
void cs_policy_bus(const cs_policy *policy, const cs_policy_subject *subject, const char *direction,
                   const char *pattern, cs_policy_decision *decision);

/* A network host pattern ("api.example.com", "*.example.com", "host:8443"). */
void cs_policy_net(const cs_policy *policy, const cs_policy_subject *subject, const char *host,
                   cs_policy_decision *decision);

/* A boolean setting: "developer_mode", "unsigned_folders", "remote_debugging"
 * (default false) or "restart_on_policy_change" (default true). */
void cs_policy_flag(const cs_policy *policy, const cs_policy_subject *subject, const char *name,
                    cs_policy_decision *decision);

/* Resource limits: the defaults, changed by policy. */
void cs_policy_limits(const cs_policy *policy, const cs_policy_subject *subject,
                      cs_sandbox_limits *limits);

/* Update settings for one app (or the "runtime" target): channel, allowed
 * versions, window, how the update lands and the staged rollout. */
typedef struct cs_policy_update {
    char channel[64];         /* "stable" unless policy sets another */
    char pinned[128];         /* exact version to keep, "" when not pinned */
    char minimum[128];        /* lowest version that may run or install, "" for any */
    char range[256];          /* semver range such as ">=1.2.0 <2.0.0", "" for any */
    char window[32];          /* "HH:MM-HH:MM" in local time, "" for any time */
    bool at_next_start;       /* false: install at once; true: when the app next starts */
    unsigned rollout_percent; /* 0 to 100: share of desktops that take new versions */
    bool auto_rollback;       /* roll back a version that fails within grace_seconds */
    unsigned grace_seconds;   /* default 60 */
    char repository[64];      /* name of the repository in cs_policy_repository */
    char denied[600];         /* why updates are stopped (a broken policy scope), or "" */
} cs_policy_update;

/* A repository that desktops update from. */
typedef struct cs_policy_repository {
    char name[64];
    char url[1024];     /* https://... (http:// only with allow_http) */
    char root[1024];    /* file holding the trusted root metadata */
    char ca_file[1024]; /* CA certificates for the server, "" for the system's */
    bool allow_http;    /* plain HTTP allowed; metadata signatures are still checked */
} cs_policy_repository;

/* Update settings for app_id; publisher (key id, certificate fingerprint or
 * subject) may be NULL. Settings that no policy sets keep their defaults. */
void cs_policy_update_settings(const cs_policy *policy, const char *app_id, const char *publisher,
                               cs_policy_update *out);

/* The repositories policy lists, in name order; returns how many were
 * written to out (at most max). */
size_t cs_policy_repositories(const cs_policy *policy, cs_policy_repository *out, size_t max);

/* Add the publishers and CA certificates that policy trusts to trust. */
struct cs_trust;
int cs_policy_add_trust(const cs_policy *policy, struct cs_trust *trust, cs_error *err);

/* Audit settings: where decisions are logged (path "" when off). */
typedef struct cs_policy_audit_settings {
    char path[1024];
    unsigned long long max_bytes; /* rotate when the file would grow beyond; default 10 MiB */
    unsigned keep;                /* rotated files kept; default 5 */
} cs_policy_audit_settings;
void cs_policy_audit_settings_get(const cs_policy *policy, cs_policy_audit_settings *out);

/* The merged policy: every value with its file, level and scope, and
 * whether a value of higher precedence overrides it. A new reference. */
json_t *cs_policy_show(const cs_policy *policy);

/* ---- Logging decisions (src/policy/audit.c) ---- */

typedef struct cs_policy_log cs_policy_log;

/* Create a decision log. Each denial is written to out once per app,
 * permission and target. Grants and denials also go to the audit file when
 * policy sets one. out may be NULL. */
cs_policy_log *cs_policy_log_new(FILE *out);
void cs_policy_log_free(cs_policy_log *log);

/* Take the audit settings of policy (after a load or reload). */
void cs_policy_log_configure(cs_policy_log *log, const cs_policy *policy);

/* Send the log's lines to fn (one line, no newline) instead of out. */
typedef void (*cs_policy_log_fn)(void *ctx, const char *line);
void cs_policy_log_set_sink(cs_policy_log *log, cs_policy_log_fn fn, void *ctx);

/* Write a decision to the audit file only, for a denial that the caller
 * reports itself. */
void cs_policy_audit(cs_policy_log *log, const char *app_id, const char *permission,
                     const cs_policy_decision *decision);

/* Record a decision about permission ("fs", "bus.publish", "run" and so on) for
 * app_id. */
void cs_policy_record(cs_policy_log *log, const char *app_id, const char *permission,
                      const cs_policy_decision *decision);
