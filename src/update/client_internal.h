/* Parts of the update client shared between its source files. */
#pragma once

#include "update/client.h"
#include "update/fetch.h"
#include "update/metadata.h"

#include <limits.h>

/* One repository during one run: its settings, the metadata verified so
 * far and where the trusted copies live. */
typedef struct repo_session {
    cs_policy_repository config;
    char base_url[1024]; /* config.url without a trailing '/' */
    char dir[PATH_MAX];  /* STORE/update/repos/NAME */
    cs_fetch_options fetch;
    cs_fetch_stats stats;
    time_t now;

    bool refreshed; /* refresh ran; refresh_rc and refresh_err hold its result */
    int refresh_rc;
    cs_error refresh_err;

    cs_meta *root;
    cs_meta *timestamp;
    cs_meta *snapshot;
    cs_meta *targets;
    struct delegated_meta {
        char role[CS_META_NAME_MAX + 1];
        cs_meta *meta;
    } * delegated;
    size_t ndelegated;
} repo_session;

/* Prepare a session for the repository config, keeping its trusted
 * metadata in store/update/repos/NAME. */
int repo_session_init(repo_session *r, const cs_policy_repository *config, const char *store,
                      time_t now, cs_error *err);
void repo_session_free(repo_session *r);

/* Walk the root chain and verify a new timestamp, snapshot and top-level
 * targets, keeping each verified file as the trusted copy. */
int repo_refresh(repo_session *r, cs_error *err);

/* The verified targets metadata that may list app_id: the top-level
 * targets or the delegated role's file, fetched and verified on first use. */
int repo_targets_for(repo_session *r, const char *app_id, const cs_meta **targets, cs_error *err);

/* URL of the blob with this hex SHA-256, in a new string. */
char *repo_blob_url(const repo_session *r, const char *sha256_hex);

/* Append what the administrator can check to the message of a failed
 * download from r (the ca_file setting after a TLS failure). Returns rc. */
int repo_fetch_failed(const repo_session *r, int rc, cs_error *err);

/* Append formatted text to the message in err (which may be NULL). */
void update_error_append(cs_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
