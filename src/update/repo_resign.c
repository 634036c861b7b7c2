/* repo resign, and the expiry checks of repo timestamp: keep metadata from
 * expiring when nothing is published. */
#include "common/cleanup.h"
#include "common/json.h"
#include "update/repo_internal.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool have_key(const repo *r, const char *base)
{
    char file[CS_META_NAME_MAX + 32];
    snprintf(file, sizeof(file), "%s.key", base);
    cs_autofree char *path = r->keys_dir ? cs_repo_path(r->keys_dir, file) : NULL;
    return path && access(path, F_OK) == 0;
}

/* Append a warning line when meta expires before deadline. */
static void warn_expiry(const repo *r, const cs_meta *meta, time_t deadline, const char *role,
                        cs_repo_result *out)
{
    if (cs_meta_expires(meta) >= deadline)
        return;
    char when[21];
    cs_meta_format_time(cs_meta_expires(meta), when);
    size_t used = strlen(out->warnings);
    snprintf(out->warnings + used, sizeof(out->warnings) - used,
             "%s expires at %s; re-sign it with 'cashstory repo resign %s %s' where its key "
             "is\n",
             cs_meta_name(meta), when, r->dir, role);
}

static void warn_all(repo *r, const cs_meta *snapshot, time_t timestamp_expires,
                     cs_repo_result *out)
{
    time_t soon = r->now + CS_REPO_WARN_BEFORE;
    warn_expiry(r, r->root, soon, "root", out);
    warn_expiry(r, r->targets, soon, "targets", out);
    warn_expiry(r, snapshot, timestamp_expires, "snapshot", out);
    const json_t *roles =
        json_object_get(json_object_get(cs_meta_signed(r->targets), "delegations"), "roles");
    size_t i;
    json_t *role;
    json_array_foreach(roles, i, role)
    {
        const char *name = json_string_value(json_object_get(role, "name"));
        cs_meta *delegated = NULL;
        cs_error ignored = {0};
        if (cs_repo_load_delegated(r->dir, snapshot, name, &delegated, &ignored) == 0 && delegated)
            warn_expiry(r, delegated, soon, name, out);
        cs_meta_free(delegated);
    }
}

int cs_repo_timestamp(const char *dir, const char *keys_dir, time_t expires, cs_repo_result *out,
                      cs_error *err)
{
    memset(out, 0, sizeof(*out));
    cs_cleanup(cs_repo_close) repo r;
    int rc = cs_repo_open(&r, dir, keys_dir, true, err);
    if (rc < 0)
        return rc;

    /* The snapshot key is online too, so the timer also renews a snapshot
     * that would expire within half its lifetime, when the key is here. */
    if (!expires && cs_meta_expires(r.snapshot) < r.now + CS_REPO_SNAPSHOT_LIFETIME / 2 &&
        have_key(&r, "snapshot")) {
        if ((rc = cs_repo_publish(&r, NULL, 0, out, err)) < 0)
            return rc;
        cs_meta *snapshot = NULL;
        cs_autofree char *path = cs_repo_path(dir, "snapshot.json");
        if (path && cs_meta_load(path, CS_META_SNAPSHOT, CS_META_SNAPSHOT_MAX, &snapshot, err) == 0)
            warn_all(&r, snapshot, out->timestamp_expires, out);
        cs_meta_free(snapshot);
        return 0;
    }

    cs_meta *timestamp = NULL;
    rc = cs_repo_sign_timestamp(&r, r.snapshot, expires, &timestamp, err);
    if (rc == 0 && expires && expires < r.now)
        r.now = expires; /* an expired timestamp is written on purpose, for tests */
    if (rc == 0)
        rc = cs_repo_check(&r, timestamp, NULL, NULL, 0, err);
    if (rc == 0)
        rc = cs_repo_commit(&r, err);
    if (rc == 0) {
        out->timestamp_version = cs_meta_version(timestamp);
        out->timestamp_expires = cs_meta_expires(timestamp);
        out->root_version = cs_meta_version(r.root);
        warn_all(&r, r.snapshot, out->timestamp_expires, out);
    }
    cs_meta_free(timestamp);
    return rc;
}

/* Publish root version N+1 with the same keys and a fresh expiry. */
static int resign_root(repo *r, cs_repo_result *out, cs_error *err)
{
    EVP_PKEY *key;
    int rc = cs_repo_role_key(r, CS_META_ROOT, &key, err);
    if (rc < 0)
        return rc;
    cs_autojson json_t *s = json_deep_copy(cs_meta_signed(r->root));
    if (!s)
        return cs_error_set(err, ENOMEM, "out of memory");
    if ((rc = cs_repo_bump(s, r->now, CS_REPO_ROOT_LIFETIME, 0, err)) < 0)
        return rc;
    char name[64];
    snprintf(name, sizeof(name), "%llu.root.json",
             (unsigned long long)cs_meta_version(r->root) + 1);
    cs_meta *root = NULL;
    if ((rc = cs_repo_sign(r, name, CS_META_ROOT, s, &key, 1, false, &root, err)) < 0)
        return rc;
    const staged_file *signed_root = &r->staged[r->nstaged - 1];
    bool keys_changed;
    rc = cs_repo_stage(r, "root.json", signed_root->data, signed_root->len, err);
    if (rc == 0 && (rc = cs_meta_verify_root_update(r->root, root, &keys_changed, err)) < 0)
        cs_error_prefix(err, "the new root fails verification, nothing was written");
    if (rc == 0)
        rc = cs_repo_commit(r, err);
    if (rc == 0)
        out->root_version = cs_meta_version(root);
    cs_meta_free(root);
    return rc;
}

int cs_repo_resign(const char *dir, const char *keys_dir, const char *role, cs_repo_result *out,
                   cs_error *err)
{
    if (strcmp(role, "timestamp") == 0)
        return cs_repo_timestamp(dir, keys_dir, 0, out, err);
    memset(out, 0, sizeof(*out));
    cs_cleanup(cs_repo_close) repo r;
    int rc = cs_repo_open(&r, dir, keys_dir, true, err);
    if (rc < 0)
        return rc;
    if (strcmp(role, "root") == 0)
        return resign_root(&r, out, err);
    if (strcmp(role, "snapshot") == 0)
        return cs_repo_publish(&r, NULL, 0, out, err);

    bool top = strcmp(role, "targets") == 0;
    if (!top) {
        const json_t *roles =
            json_object_get(json_object_get(cs_meta_signed(r.targets), "delegations"), "roles");
        bool found = false;
        size_t i;
        json_t *entry;
        json_array_foreach(roles, i, entry)
        {
            found = found || strcmp(json_string_value(json_object_get(entry, "name")), role) == 0;
        }
        if (!found)
            return cs_error_set(err, ENOENT,
                                "'%s' is neither root, targets, snapshot, timestamp nor a "
                                "delegated role of %s/targets.json",
                                role, dir);
    }
    cs_cleanup(cs_repo_role_file_free) role_file f = {0};
    if ((rc = cs_repo_load_role_file(&r, top ? NULL : role, &f, err)) < 0)
        return rc;
    return cs_repo_publish_role_file(&r, &f, NULL, out, err);
}
