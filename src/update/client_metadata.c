/* The metadata half of the update client: the steps of docs/repository.md
 * ("Client workflow", steps 1 to 4) against one repository, keeping the
 * last verified file of each role as the trusted copy. */
#include "update/client_internal.h"

#include "common/cleanup.h"
#include "common/fsutil.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Root versions one run may walk; a longer chain is an error. */
#define MAX_ROOT_STEPS 1024

int repo_session_init(repo_session *r, const cs_policy_repository *config, const char *store,
                      time_t now, cs_error *err)
{
    memset(r, 0, sizeof(*r));
    r->config = *config;
    r->now = now;
    snprintf(r->base_url, sizeof(r->base_url), "%s", config->url);
    size_t n = strlen(r->base_url);
    while (n > 0 && r->base_url[n - 1] == '/')
        r->base_url[--n] = '\0';
    if (n == 0)
        return cs_error_set(err, EINVAL, "repository '%s' has no URL in policy", config->name);
    if (!config->root[0])
        return cs_error_set(err, EINVAL,
                            "repository '%s' has no root file in policy (\"root\": the trusted "
                            "root.json of the repository)",
                            config->name);
    if (strchr(config->name, '/') || config->name[0] == '.' || !config->name[0])
        return cs_error_set(err, EINVAL, "invalid repository name '%s'", config->name);
    snprintf(r->dir, sizeof(r->dir), "%s/update/repos/%s", store, config->name);
    if (config->ca_file[0] && access(config->ca_file, R_OK) < 0)
        return cs_error_errno(err, errno,
                              "repositories.%s.ca_file: cannot read %s (set it to a PEM file with "
                              "the CA certificate that issued the repository server's certificate)",
                              config->name, config->ca_file);
    r->fetch.ca_file = r->config.ca_file[0] ? r->config.ca_file : NULL;
    r->fetch.allow_http = config->allow_http;
    r->fetch.session = cs_fetch_session_new();
    if (!r->fetch.session)
        return cs_error_set(err, ENOMEM, "cannot create a libcurl handle");
    return cs_fetch_check_url(&r->fetch, r->base_url, err);
}

void repo_session_free(repo_session *r)
{
    cs_meta_free(r->root);
    cs_meta_free(r->timestamp);
    cs_meta_free(r->snapshot);
    cs_meta_free(r->targets);
    for (size_t i = 0; i < r->ndelegated; i++)
        cs_meta_free(r->delegated[i].meta);
    free(r->delegated);
    cs_fetch_session_free(r->fetch.session);
    memset(r, 0, sizeof(*r));
}

char *repo_blob_url(const repo_session *r, const char *sha256_hex)
{
    char *url = NULL;
    if (asprintf(&url, "%s/blobs/sha256/%s", r->base_url, sha256_hex) < 0)
        return NULL;
    return url;
}

void update_error_append(cs_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    size_t used = strlen(err->message);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message + used, sizeof(err->message) - used, fmt, ap);
    va_end(ap);
}

int repo_fetch_failed(const repo_session *r, int rc, cs_error *err)
{
    if (rc != -EPROTO)
        return rc;
    if (r->config.ca_file[0])
        update_error_append(err,
                            "; check that repositories.%s.ca_file (%s) contains the CA "
                            "certificate that issued the server's certificate, and that the "
                            "certificate names the host of the URL",
                            r->config.name, r->config.ca_file);
    else
        update_error_append(err,
                            "; the system's CAs do not accept the server's certificate (for a "
                            "private CA, set repositories.%s.ca_file to its PEM file)",
                            r->config.name);
    return rc;
}

/* Download the metadata file name (at most max bytes) and parse it. */
static int fetch_meta(repo_session *r, const char *name, cs_meta_type type, size_t max,
                      cs_meta **out, uint8_t **bytes, size_t *len, cs_error *err)
{
    *out = NULL;
    cs_autofree char *url = NULL;
    if (asprintf(&url, "%s/%s", r->base_url, name) < 0)
        return cs_error_set(err, ENOMEM, "out of memory");
    int rc = cs_fetch_memory(&r->fetch, url, max, bytes, len, &r->stats, err);
    if (rc < 0)
        return repo_fetch_failed(r, rc, err);
    rc = cs_meta_parse(*bytes, *len, type, name, out, err);
    if (rc < 0) {
        free(*bytes);
        *bytes = NULL;
    }
    return rc;
}

/* Keep the verified bytes of name as the trusted copy. */
static int save_trusted(repo_session *r, const char *name, const uint8_t *bytes, size_t len,
                        cs_error *err)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", r->dir, name);
    cs_autofree char *dir = cs_dirname(path);
    if (!dir)
        return cs_error_set(err, ENOMEM, "out of memory");
    int rc = cs_mkdir_p(dir, 0755, err);
    if (rc < 0)
        return rc;
    return cs_write_file_atomic(path, bytes, len, 0644, err);
}

/* The trusted copy of name, or NULL when there is none or it cannot be
 * parsed (it is then downloaded and verified again). */
static cs_meta *load_trusted(const repo_session *r, const char *name, cs_meta_type type, size_t max)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", r->dir, name);
    cs_meta *meta = NULL;
    if (cs_meta_load(path, type, max, &meta, NULL) < 0)
        return NULL;
    return meta;
}

static bool same_file(const cs_meta *meta, const cs_meta_hashed *expected)
{
    const cs_meta_hashed *h = cs_meta_file_hash(meta);
    return h->size == expected->size && strcmp(h->sha256, expected->sha256) == 0;
}

/* Step 1: the trusted root, then every newer root the server has. */
static int refresh_root(repo_session *r, bool *keys_changed, cs_error *err)
{
    *keys_changed = false;
    cs_meta *shipped = NULL;
    int rc = cs_meta_load(r->config.root, CS_META_ROOT, CS_META_ROOT_MAX, &shipped, err);
    if (rc < 0) {
        cs_error_prefix(err, "repositories.%s.root", r->config.name);
        update_error_append(err, " (set it to a root metadata file of this repository that you "
                                 "trust, such as its 1.root.json)");
        return rc;
    }
    cs_meta *kept = load_trusted(r, "root.json", CS_META_ROOT, CS_META_ROOT_MAX);
    /* Both were trusted: the policy's file by the administrator, the kept
     * one by an earlier verified chain. The newer one continues. */
    if (kept && cs_meta_version(kept) >= cs_meta_version(shipped)) {
        cs_meta_free(shipped);
        r->root = kept;
    } else {
        cs_meta_free(kept);
        r->root = shipped;
    }

    for (int step = 0;; step++) {
        if (step == MAX_ROOT_STEPS)
            return cs_error_set(err, EINVAL, "more than %d root versions after version %" PRIu64,
                                MAX_ROOT_STEPS, cs_meta_version(r->root));
        char name[64];
        snprintf(name, sizeof(name), "%" PRIu64 ".root.json", cs_meta_version(r->root) + 1);
        cs_meta *next = NULL;
        cs_autofree uint8_t *bytes = NULL;
        size_t len = 0;
        rc = fetch_meta(r, name, CS_META_ROOT, CS_META_ROOT_MAX, &next, &bytes, &len, err);
        if (rc == -ENOENT)
            break;
        if (rc < 0)
            return rc;
        bool changed = false;
        rc = cs_meta_verify_root_update(r->root, next, &changed, err);
        if (rc == 0)
            rc = save_trusted(r, "root.json", bytes, len, err);
        if (rc < 0) {
            cs_meta_free(next);
            return rc;
        }
        *keys_changed = *keys_changed || changed;
        cs_meta_free(r->root);
        r->root = next;
    }
    return cs_meta_check_expiry(r->root, r->now, err);
}

/* Step 2: a timestamp no older than the trusted one. */
static int refresh_timestamp(repo_session *r, cs_error *err)
{
    cs_meta *trusted = load_trusted(r, "timestamp.json", CS_META_TIMESTAMP, CS_META_TIMESTAMP_MAX);
    cs_autofree uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = fetch_meta(r, "timestamp.json", CS_META_TIMESTAMP, CS_META_TIMESTAMP_MAX,
                        &r->timestamp, &bytes, &len, err);
    if (rc == 0)
        rc = cs_meta_verify_timestamp(r->root, trusted, r->timestamp, r->now, err);
    if (rc == 0)
        rc = save_trusted(r, "timestamp.json", bytes, len, err);
    cs_meta_free(trusted);
    return rc;
}

/* Fetch the metadata file entry names unless the trusted copy has its
 * digest and size already. *trusted receives the previous trusted copy
 * (NULL when none), *meta the file to verify; *bytes is NULL when the
 * trusted copy is reused. */
static int fetch_listed(repo_session *r, const cs_meta_file *entry, cs_meta_type type, size_t max,
                        cs_meta **trusted, cs_meta **meta, uint8_t **bytes, size_t *len,
                        cs_error *err)
{
    *trusted = load_trusted(r, entry->name, type, max);
    *meta = NULL;
    *bytes = NULL;
    *len = 0;
    if (entry->hash.size > max)
        return cs_error_set(err, EFBIG, "%s is %" PRIu64 " bytes, above the limit of %zu",
                            entry->name, entry->hash.size, max);
    if (*trusted && same_file(*trusted, &entry->hash))
        return 0;

    /* The versioned copy ("delegations/3.acme.json") never changes, so a
     * publication in progress cannot mix two repository states. */
    char versioned[sizeof(entry->name) + 24];
    const char *slash = strrchr(entry->name, '/');
    int folder = slash ? (int)(slash - entry->name + 1) : 0;
    snprintf(versioned, sizeof(versioned), "%.*s%" PRIu64 ".%s", folder, entry->name,
             entry->version, entry->name + folder);
    return fetch_meta(r, versioned, type, (size_t)entry->hash.size, meta, bytes, len, err);
}

/* Step 3: the snapshot the timestamp names. */
static int refresh_snapshot(repo_session *r, cs_error *err)
{
    cs_meta_file entry;
    int rc = cs_meta_find_file(r->timestamp, "snapshot.json", &entry, err);
    if (rc < 0)
        return rc;
    cs_meta *trusted = NULL, *fresh = NULL;
    cs_autofree uint8_t *bytes = NULL;
    size_t len = 0;
    rc = fetch_listed(r, &entry, CS_META_SNAPSHOT, CS_META_SNAPSHOT_MAX, &trusted, &fresh, &bytes,
                      &len, err);
    if (rc < 0) {
        cs_meta_free(trusted);
        return rc;
    }
    if (!fresh) {
        r->snapshot = trusted;
        return cs_meta_verify_snapshot(r->root, r->timestamp, trusted, trusted, r->now, err);
    }
    rc = cs_meta_verify_snapshot(r->root, r->timestamp, trusted, fresh, r->now, err);
    cs_meta_free(trusted);
    r->snapshot = fresh;
    if (rc == 0)
        rc = save_trusted(r, "snapshot.json", bytes, len, err);
    return rc;
}

/* A targets file the snapshot lists: the trusted copy when it has the
 * listed digest (*bytes is then NULL), else a fresh download. */
static int fetch_targets_file(repo_session *r, const cs_meta_file *entry, cs_meta **meta,
                              uint8_t **bytes, size_t *len, cs_error *err)
{
    cs_meta *trusted = NULL;
    int rc = fetch_listed(r, entry, CS_META_TARGETS, CS_META_TARGETS_MAX, &trusted, meta, bytes,
                          len, err);
    if (rc == 0 && !*meta) {
        *meta = trusted;
        trusted = NULL;
    }
    cs_meta_free(trusted);
    return rc;
}

/* Step 4: the top-level targets the snapshot names. */
static int refresh_targets(repo_session *r, cs_error *err)
{
    cs_meta_file entry;
    int rc = cs_meta_find_file(r->snapshot, "targets.json", &entry, err);
    if (rc < 0)
        return rc;
    cs_autofree uint8_t *bytes = NULL;
    size_t len = 0;
    rc = fetch_targets_file(r, &entry, &r->targets, &bytes, &len, err);
    if (rc == 0)
        rc = cs_meta_verify_targets(r->root, r->snapshot, r->targets, r->now, err);
    if (rc == 0 && bytes)
        rc = save_trusted(r, "targets.json", bytes, len, err);
    return rc;
}

int repo_refresh(repo_session *r, cs_error *err)
{
    bool keys_changed = false;
    int rc = refresh_root(r, &keys_changed, err);
    if (rc == 0 && keys_changed) {
        /* New timestamp or snapshot keys: forget the versions the old keys
         * vouched for, so a repository recovers from a fast-forward attack. */
        char path[PATH_MAX + 64];
        snprintf(path, sizeof(path), "%s/timestamp.json", r->dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/snapshot.json", r->dir);
        unlink(path);
    }
    if (rc == 0)
        rc = refresh_timestamp(r, err);
    /* A root or timestamp that the trusted root's keys did not sign most
     * often means that the configured root belongs to another repository. */
    if (rc == -CS_EVERIFY && !r->snapshot)
        update_error_append(err,
                            "; if this repository did not change its keys, check that "
                            "repositories.%s.root (%s) is a root file of this repository",
                            r->config.name, r->config.root);
    if (rc == 0)
        rc = refresh_snapshot(r, err);
    if (rc == 0)
        rc = refresh_targets(r, err);
    if (rc < 0)
        return cs_error_prefix(err, "repository '%s' (%s)", r->config.name, r->base_url);
    return 0;
}

int repo_targets_for(repo_session *r, const char *app_id, const cs_meta **targets, cs_error *err)
{
    const char *role = cs_meta_delegation_for(r->targets, app_id);
    if (!role) {
        *targets = r->targets;
        return 0;
    }
    for (size_t i = 0; i < r->ndelegated; i++) {
        if (strcmp(r->delegated[i].role, role) == 0) {
            *targets = r->delegated[i].meta;
            return 0;
        }
    }

    char name[CS_META_NAME_MAX + 32];
    snprintf(name, sizeof(name), "delegations/%s.json", role);
    cs_meta_file entry;
    int rc = cs_meta_find_file(r->snapshot, name, &entry, err);
    if (rc < 0)
        return cs_error_prefix(err, "repository '%s' (%s)", r->config.name, r->base_url);
    cs_meta *fresh = NULL;
    cs_autofree uint8_t *bytes = NULL;
    size_t len = 0;
    rc = fetch_targets_file(r, &entry, &fresh, &bytes, &len, err);
    if (rc == 0)
        rc = cs_meta_verify_delegated(r->targets, r->snapshot, role, fresh, r->now, err);
    if (rc == 0 && bytes)
        rc = save_trusted(r, name, bytes, len, err);
    struct delegated_meta *grown = NULL;
    if (rc == 0) {
        grown = realloc(r->delegated, (r->ndelegated + 1) * sizeof(*grown));
        if (!grown)
            rc = cs_error_set(err, ENOMEM, "out of memory");
    }
    if (rc < 0) {
        cs_meta_free(fresh);
        return cs_error_prefix(err, "repository '%s' (%s)", r->config.name, r->base_url);
    }
    r->delegated = grown;
    snprintf(grown[r->ndelegated].role, sizeof(grown[r->ndelegated].role), "%s", role);
    grown[r->ndelegated].meta = fresh;
    r->ndelegated++;
    *targets = fresh;
    return 0;
}
