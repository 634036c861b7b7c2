/* Repository commands: every step that changes metadata goes through one
 * struct repo, which stages new files in memory and writes them in order. */
#include "update/repo.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/hex.h"
#include "common/json.h"
#include "crypto/digest.h"
#include "crypto/keys.h"
#include "package/index.h"
#include "package/verify.h"
#include "update/repo_internal.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

char *cs_repo_path(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

int cs_repo_open(repo *r, const char *dir, const char *keys_dir, bool exclusive, cs_error *err)
{
    memset(r, 0, sizeof(*r));
    r->dirfd = -1;
    r->dir = dir;
    r->keys_dir = keys_dir;
    r->now = time(NULL);
    r->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r->dirfd < 0)
        return cs_error_errno(err, errno, "cannot open the repository folder %s", dir);
    /* Commands that write, such as a timer's `repo timestamp` and an
     * administrator's `repo add`, must not both publish version N+1. */
    if (flock(r->dirfd, exclusive ? LOCK_EX : LOCK_SH) < 0)
        return cs_error_errno(err, errno, "cannot lock %s", dir);
    int rc;
    if (keys_dir && (rc = cs_repo_check_keys_outside(dir, keys_dir, err)) < 0)
        return rc;

    static const struct {
        const char *name;
        cs_meta_type type;
        size_t max;
    } files[] = {
        {"root.json", CS_META_ROOT, CS_META_ROOT_MAX},
        {"targets.json", CS_META_TARGETS, CS_META_TARGETS_MAX},
        {"snapshot.json", CS_META_SNAPSHOT, CS_META_SNAPSHOT_MAX},
        {"timestamp.json", CS_META_TIMESTAMP, CS_META_TIMESTAMP_MAX},
    };
    cs_meta **slots[] = {&r->root, &r->targets, &r->snapshot, &r->timestamp};
    for (size_t i = 0; i < 4; i++) {
        cs_autofree char *path = cs_repo_path(dir, files[i].name);
        if (!path)
            return cs_error_set(err, ENOMEM, "out of memory");
        if ((rc = cs_meta_load(path, files[i].type, files[i].max, slots[i], err)) < 0) {
            if (rc == -ENOENT)
                return cs_error_set(err, ENOENT,
                                    "%s not found; is %s a repository? Create one with "
                                    "'cashstory repo init'",
                                    path, dir);
            return rc;
        }
    }
    return 0;
}

void cs_repo_close(repo *r)
{
    for (size_t i = 0; i < r->nstaged; i++) {
        free(r->staged[i].name);
        free(r->staged[i].data);
    }
    free(r->staged);
    for (size_t i = 0; i < r->nkeys; i++) {
        EVP_PKEY_free(r->keys[i].key);
        free(r->keys[i].base);
    }
    free(r->keys);
    cs_meta_free(r->root);
    cs_meta_free(r->targets);
    cs_meta_free(r->snapshot);
    cs_meta_free(r->timestamp);
    if (r->dirfd >= 0)
        close(r->dirfd);
    memset(r, 0, sizeof(*r));
    r->dirfd = -1;
}

/* True when keyids (a JSON array) lists id. */
static bool lists_key(const json_t *keyids, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(keyids, i, v)
    {
        if (strcmp(json_string_value(v), id) == 0)
            return true;
    }
    return false;
}

int cs_repo_key(repo *r, const char *base, const json_t *keyids, const char *signs, EVP_PKEY **out,
                cs_error *err)
{
    for (size_t i = 0; i < r->nkeys; i++) {
        if (strcmp(r->keys[i].base, base) == 0) {
            *out = r->keys[i].key;
            return 0;
        }
    }
    if (!r->keys_dir)
        return cs_error_set(err, EINVAL,
                            "%s needs the key %s.key: name the key folder with --keys DIR", signs,
                            base);
    char file[CS_META_NAME_MAX + 32];
    snprintf(file, sizeof(file), "%s.key", base);
    cs_autofree char *path = cs_repo_path(r->keys_dir, file);
    if (!path)
        return cs_error_set(err, ENOMEM, "out of memory");
    if (access(path, F_OK) < 0)
        return cs_error_set(err, ENOENT,
                            "%s not found: re-signing %s needs this key; run the command where "
                            "the key folder contains it",
                            path, signs);
    cs_autopkey EVP_PKEY *key = NULL;
    int rc = cs_key_load_private(path, &key, err);
    if (rc < 0)
        return rc;
    char id[CS_KEY_ID_HEX_LEN + 1];
    if (cs_key_id(key, id) < 0)
        return cs_error_set(err, EINVAL, "%s: cannot compute the key id", path);
    if (keyids && !lists_key(keyids, id))
        return cs_error_set(err, CS_EVERIFY,
                            "%s (key id %s) is not a key that may sign %s; use the key folder of "
                            "this repository",
                            path, id, signs);

    repo_key *grown = realloc(r->keys, (r->nkeys + 1) * sizeof(*grown));
    if (!grown)
        return cs_error_set(err, ENOMEM, "out of memory");
    r->keys = grown;
    r->keys[r->nkeys].base = strdup(base);
    if (!r->keys[r->nkeys].base)
        return cs_error_set(err, ENOMEM, "out of memory");
    r->keys[r->nkeys].key = cs_steal(&key);
    *out = r->keys[r->nkeys++].key;
    return 0;
}

int cs_repo_role_key(repo *r, cs_meta_type role, EVP_PKEY **out, cs_error *err)
{
    const json_t *roles = json_object_get(cs_meta_signed(r->root), "roles");
    const json_t *keyids =
        json_object_get(json_object_get(roles, cs_meta_role_names[role]), "keyids");
    char signs[64];
    snprintf(signs, sizeof(signs), "%s metadata", cs_meta_role_names[role]);
    return cs_repo_key(r, cs_meta_role_names[role], keyids, signs, out, err);
}

/* Name of the immutable copy of name at version: "7.targets.json",
 * "delegations/3.acme.json". */
static char *versioned_name(const char *name, uint64_t version)
{
    const char *slash = strrchr(name, '/');
    size_t dir_len = slash ? (size_t)(slash - name) + 1 : 0;
    size_t n = strlen(name) + 24;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%.*s%llu.%s", (int)dir_len, name, (unsigned long long)version,
                 name + dir_len);
    return out;
}

int cs_repo_stage(repo *r, const char *name, const char *data, size_t len, cs_error *err)
{
    staged_file *grown = realloc(r->staged, (r->nstaged + 1) * sizeof(*grown));
    if (!grown)
        return cs_error_set(err, ENOMEM, "out of memory");
    r->staged = grown;
    staged_file *f = &r->staged[r->nstaged];
    f->name = strdup(name);
    f->data = malloc(len ? len : 1);
    if (!f->name || !f->data) {
        free(f->name);
        free(f->data);
        return cs_error_set(err, ENOMEM, "out of memory");
    }
    memcpy(f->data, data, len);
    f->len = len;
    r->nstaged++;
    return 0;
}

int cs_repo_sign(repo *r, const char *name, cs_meta_type type, json_t *signed_part,
                 EVP_PKEY *const *keys, size_t nkeys, bool versioned_copy, cs_meta **out,
                 cs_error *err)
{
    cs_autofree char *text = NULL;
    size_t len;
    int rc = cs_meta_sign(signed_part, keys, nkeys, &text, &len, err);
    if (rc < 0)
        return rc;
    /* Parse the result back, so nothing is published that a client would
     * reject as malformed. */
    if ((rc = cs_meta_parse(text, len, type, name, out, err)) < 0)
        return cs_error_prefix(err, "the new metadata is invalid");
    if (versioned_copy) {
        cs_autofree char *copy = versioned_name(name, cs_meta_version(*out));
        if (!copy)
            return cs_error_set(err, ENOMEM, "out of memory");
        if ((rc = cs_repo_stage(r, copy, text, len, err)) < 0)
            return rc;
    }
    return cs_repo_stage(r, name, text, len, err);
}

int cs_repo_bump(json_t *signed_part, time_t now, time_t lifetime, time_t expires, cs_error *err)
{
    json_int_t version = json_integer_value(json_object_get(signed_part, "version"));
    if ((uint64_t)version >= CS_META_VERSION_MAX)
        return cs_error_set(err, ERANGE, "the %s version is at its maximum",
                            json_string_value(json_object_get(signed_part, "type")));
    char when[21];
    cs_meta_format_time(expires ? expires : now + lifetime, when);
    if (json_object_set_new(signed_part, "version", json_integer(version + 1)) < 0 ||
        json_object_set_new(signed_part, "expires", json_string(when)) < 0)
        return cs_error_set(err, ENOMEM, "out of memory");
    return 0;
}

json_t *cs_repo_file_entry(const cs_meta *meta)
{
    const cs_meta_hashed *h = cs_meta_file_hash(meta);
    return json_pack("{s:I, s:s, s:I}", "version", (json_int_t)cs_meta_version(meta), "sha256",
                     h->sha256, "size", (json_int_t)h->size);
}

int cs_repo_sign_timestamp(repo *r, const cs_meta *snapshot, time_t expires, cs_meta **out,
                           cs_error *err)
{
    EVP_PKEY *key;
    int rc = cs_repo_role_key(r, CS_META_TIMESTAMP, &key, err);
    if (rc < 0)
        return rc;
    cs_autojson json_t *s = json_deep_copy(cs_meta_signed(r->timestamp));
    if (!s || json_object_set_new(s, "snapshot", cs_repo_file_entry(snapshot)) < 0)
        return cs_error_set(err, ENOMEM, "out of memory");
    if ((rc = cs_repo_bump(s, r->now, CS_REPO_TIMESTAMP_LIFETIME, expires, err)) < 0)
        return rc;
    return cs_repo_sign(r, "timestamp.json", CS_META_TIMESTAMP, s, &key, 1, false, out, err);
}

int cs_repo_publish(repo *r, const cs_meta *const *changed, size_t nchanged, cs_repo_result *out,
                    cs_error *err)
{
    /* The new snapshot lists the changed targets files at their new versions. */
    EVP_PKEY *key;
    int rc = cs_repo_role_key(r, CS_META_SNAPSHOT, &key, err);
    if (rc < 0)
        return rc;
    cs_autojson json_t *s = json_deep_copy(cs_meta_signed(r->snapshot));
    if (!s)
        return cs_error_set(err, ENOMEM, "out of memory");
    json_t *meta = json_object_get(s, "meta");
    for (size_t i = 0; i < nchanged; i++) {
        if (json_object_set_new(meta, cs_meta_name(changed[i]), cs_repo_file_entry(changed[i])) < 0)
            return cs_error_set(err, ENOMEM, "out of memory");
    }
    if ((rc = cs_repo_bump(s, r->now, CS_REPO_SNAPSHOT_LIFETIME, 0, err)) < 0)
        return rc;
    cs_meta *snapshot = NULL, *timestamp = NULL;
    if ((rc = cs_repo_sign(r, "snapshot.json", CS_META_SNAPSHOT, s, &key, 1, true, &snapshot,
                           err)) < 0)
        return rc;
    rc = cs_repo_sign_timestamp(r, snapshot, 0, &timestamp, err);
    if (rc == 0)
        rc = cs_repo_check(r, timestamp, snapshot, changed, nchanged, err);
    if (rc == 0 && !r->hold_writes)
        rc = cs_repo_commit(r, err);
    if (rc == 0 && out) {
        out->snapshot_version = cs_meta_version(snapshot);
        out->timestamp_version = cs_meta_version(timestamp);
        out->timestamp_expires = cs_meta_expires(timestamp);
        out->root_version = cs_meta_version(r->root);
    }
    cs_meta_free(snapshot);
    cs_meta_free(timestamp);
    return rc;
}

int cs_repo_load_delegated(const char *dir, const cs_meta *snapshot, const char *role,
                           cs_meta **out, cs_error *err)
{
    char file[CS_META_NAME_MAX + 32], versioned[CS_META_NAME_MAX + 64];
    snprintf(file, sizeof(file), "delegations/%s.json", role);
    cs_meta_file listed;
    *out = NULL;
    if (cs_meta_find_file(snapshot, file, &listed, NULL) < 0)
        return 0;
    snprintf(versioned, sizeof(versioned), "delegations/%llu.%s.json",
             (unsigned long long)listed.version, role);
    cs_autofree char *path = cs_repo_path(dir, versioned);
    if (!path)
        return cs_error_set(err, ENOMEM, "out of memory");
    return cs_meta_load(path, CS_META_TARGETS, CS_META_TARGETS_MAX, out, err);
}

static bool is_changed(const char *name, const cs_meta *const *changed, size_t nchanged)
{
    for (size_t i = 0; i < nchanged; i++) {
        if (strcmp(cs_meta_name(changed[i]), name) == 0)
            return true;
    }
    return false;
}

/* With new top-level targets, every delegated file that stays as it is must
 * still list only app ids inside its role's patterns. Its signatures and
 * expiry are the publisher's business and are not checked here. */
static int check_unchanged_delegations(repo *r, const cs_meta *targets, const cs_meta *snapshot,
                                       const cs_meta *const *changed, size_t nchanged,
                                       cs_error *err)
{
    const json_t *roles =
        json_object_get(json_object_get(cs_meta_signed(targets), "delegations"), "roles");
    size_t i;
    json_t *role;
    json_array_foreach(roles, i, role)
    {
        const char *name = json_string_value(json_object_get(role, "name"));
        char file[CS_META_NAME_MAX + 32];
        snprintf(file, sizeof(file), "delegations/%s.json", name);
        if (is_changed(file, changed, nchanged))
            continue;
        cs_meta *delegated = NULL;
        int rc = cs_repo_load_delegated(r->dir, snapshot, name, &delegated, err);
        if (rc < 0)
            return rc;
        if (!delegated)
            continue;
        const char *app_id;
        json_t *app;
        json_object_foreach(json_object_get(cs_meta_signed(delegated), "targets"), app_id, app)
        {
            if (!cs_meta_delegation_allows(targets, name, app_id)) {
                rc = cs_error_set(err, EINVAL,
                                  "%s: role '%s' lists app '%s', which the new delegations no "
                                  "longer give it",
                                  cs_meta_name(delegated), name, app_id);
                break;
            }
        }
        cs_meta_free(delegated);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int cs_repo_check(repo *r, const cs_meta *timestamp, const cs_meta *snapshot,
                  const cs_meta *const *changed, size_t nchanged, cs_error *err)
{
    /* The same checks a client makes, with the previous files as the trusted
     * ones, so a wrong key or a rollback is caught before anything is
     * written. */
    int rc = cs_meta_verify_timestamp(r->root, r->timestamp, timestamp, r->now, err);
    if (rc == 0 && snapshot)
        rc = cs_meta_verify_snapshot(r->root, timestamp, r->snapshot, snapshot, r->now, err);
    const cs_meta *targets = r->targets;
    for (size_t i = 0; rc == 0 && i < nchanged; i++) {
        if (strcmp(cs_meta_name(changed[i]), "targets.json") == 0) {
            targets = changed[i];
            rc = cs_meta_verify_targets(r->root, snapshot, targets, r->now, err);
        }
    }
    for (size_t i = 0; rc == 0 && i < nchanged; i++) {
        const char *name = cs_meta_name(changed[i]);
        if (strncmp(name, "delegations/", 12) != 0)
            continue;
        char role[CS_META_NAME_MAX + 1];
        snprintf(role, sizeof(role), "%.*s", (int)(strlen(name) - 12 - 5), name + 12);
        rc = cs_meta_verify_delegated(targets, snapshot, role, changed[i], r->now, err);
    }
    if (rc == 0 && targets != r->targets)
        rc = check_unchanged_delegations(r, targets, snapshot, changed, nchanged, err);
    if (rc < 0)
        return cs_error_prefix(err, "the new metadata fails verification, nothing was written");
    return 0;
}

int cs_repo_commit(repo *r, cs_error *err)
{
    for (size_t i = 0; i < r->nstaged; i++) {
        const staged_file *f = &r->staged[i];
        cs_autofree char *path = cs_repo_path(r->dir, f->name);
        if (!path)
            return cs_error_set(err, ENOMEM, "out of memory");
        if (strchr(f->name, '/')) {
            cs_autofree char *parent = cs_dirname(path);
            int rc = parent ? cs_mkdir_p(parent, 0755, err) : -ENOMEM;
            if (rc < 0)
                return rc;
        }
        int rc = cs_write_file_atomic(path, f->data, f->len, 0644, err);
        if (rc < 0)
            return rc;
        r->ncommitted++;
    }
    return 0;
}

/* Generate base.key and base.pub in keys_dir and return the new private key. */
int cs_repo_generate_key(const char *keys_dir, const char *base, EVP_PKEY **out,
                         char id[CS_KEY_ID_HEX_LEN + 1], cs_error *err)
{
    cs_autofree char *path = cs_repo_path(keys_dir, base);
    if (!path)
        return cs_error_set(err, ENOMEM, "out of memory");
    int rc = cs_key_generate(path, id, err);
    if (rc < 0)
        return rc;
    size_t n = strlen(path) + 5;
    cs_autofree char *key_path = malloc(n);
    if (!key_path)
        return cs_error_set(err, ENOMEM, "out of memory");
    snprintf(key_path, n, "%s.key", path);
    return cs_key_load_private(key_path, out, err);
}

json_t *cs_repo_key_entry(EVP_PKEY *key)
{
    char hex[65];
    if (cs_meta_key_public_hex(key, hex, NULL) < 0)
        return NULL;
    return json_pack("{s:s, s:s}", "type", "ed25519", "public", hex);
}

json_t *cs_repo_header(const char *type, time_t expires)
{
    char when[21];
    cs_meta_format_time(expires, when);
    return json_pack("{s:s, s:s, s:i, s:s}", "type", type, "format", CS_META_FORMAT, "version", 1,
                     "expires", when);
}
