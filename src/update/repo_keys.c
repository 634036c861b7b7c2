/* repo rotate-key: replace the key of a top-level role through a new root. */
#include "common/cleanup.h"
#include "common/json.h"
#include "update/repo_internal.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Remove the keys of root's "keys" that no role lists any more. */
static void prune_root_keys(json_t *signed_part)
{
    json_t *keys = json_object_get(signed_part, "keys");
    json_t *roles = json_object_get(signed_part, "roles");
    const char *keyid;
    json_t *value;
    void *tmp;
    json_object_foreach_safe(keys, tmp, keyid, value)
    {
        bool used = false;
        const char *role_name;
        json_t *role;
        json_object_foreach(roles, role_name, role)
        {
            size_t i;
            json_t *id;
            json_array_foreach(json_object_get(role, "keyids"), i, id)
            {
                used = used || strcmp(json_string_value(id), keyid) == 0;
            }
        }
        if (!used)
            json_object_del(keys, keyid);
    }
}

static void key_file(char *out, size_t size, const char *keys_dir, const char *base,
                     const char *ext)
{
    snprintf(out, size, "%s/%s.%s", keys_dir, base, ext);
}

/* Move ROLE.new.* into place and keep the old files as ROLE.retired-N.*. */
static int swap_key_files(const char *keys_dir, const char *role, uint64_t old_root, cs_error *err)
{
    static const char *const exts[] = {"key", "pub"};
    for (size_t i = 0; i < 2; i++) {
        char current[PATH_MAX], retired[PATH_MAX], fresh[PATH_MAX], retired_base[96],
            fresh_base[96];
        snprintf(retired_base, sizeof(retired_base), "%s.retired-%llu", role,
                 (unsigned long long)old_root);
        snprintf(fresh_base, sizeof(fresh_base), "%s.new", role);
        key_file(current, sizeof(current), keys_dir, role, exts[i]);
        key_file(retired, sizeof(retired), keys_dir, retired_base, exts[i]);
        key_file(fresh, sizeof(fresh), keys_dir, fresh_base, exts[i]);
        if (rename(current, retired) < 0 && errno != ENOENT)
            return cs_error_errno(err, errno,
                                  "the new metadata is published, but %s could not be renamed to "
                                  "%s; rename it, then %s to %s, by hand",
                                  current, retired, fresh, current);
        if (rename(fresh, current) < 0)
            return cs_error_errno(err, errno,
                                  "the new metadata is published, but %s could not be renamed to "
                                  "%s; rename it by hand",
                                  fresh, current);
    }
    return 0;
}

static int rotate(repo *r, cs_meta_type role, EVP_PKEY *new_key, const char *new_id,
                  cs_repo_result *out, cs_error *err)
{
    EVP_PKEY *old_root_key;
    int rc = cs_repo_role_key(r, CS_META_ROOT, &old_root_key, err);
    if (rc < 0)
        return rc;

    const char *role_name = cs_meta_role_names[role];
    cs_autojson json_t *s = json_deep_copy(cs_meta_signed(r->root));
    json_t *entry = cs_repo_key_entry(new_key);
    if (!s || !entry || json_object_set_new(json_object_get(s, "keys"), new_id, entry) < 0 ||
        json_object_set_new(json_object_get(s, "roles"), role_name,
                            json_pack("{s:[s], s:i}", "keyids", new_id, "threshold", 1)) < 0)
        return cs_error_set(err, ENOMEM, "out of memory");
    prune_root_keys(s);
    if ((rc = cs_repo_bump(s, r->now, CS_REPO_ROOT_LIFETIME, 0, err)) < 0)
        return rc;

    /* A new root is signed by the old root keys, which clients trust, and by
     * the new ones, which prove the new root role accepts it. */
    EVP_PKEY *signers[2] = {old_root_key, new_key};
    size_t nsigners = role == CS_META_ROOT ? 2 : 1;
    char name[64];
    snprintf(name, sizeof(name), "%llu.root.json",
             (unsigned long long)cs_meta_version(r->root) + 1);
    cs_meta *new_root = NULL;
    if ((rc = cs_repo_sign(r, name, CS_META_ROOT, s, signers, nsigners, false, &new_root, err)) < 0)
        return rc;
    const staged_file *signed_root = &r->staged[r->nstaged - 1];
    if ((rc = cs_repo_stage(r, "root.json", signed_root->data, signed_root->len, err)) < 0) {
        cs_meta_free(new_root);
        return rc;
    }
    bool keys_changed;
    if ((rc = cs_meta_verify_root_update(r->root, new_root, &keys_changed, err)) < 0) {
        cs_meta_free(new_root);
        return cs_error_prefix(err, "the new root fails verification, nothing was written");
    }
    cs_meta_free(r->root);
    r->root = new_root;

    /* Re-sign what the new key signs; later steps find it under the role's
     * name among the loaded keys. */
    switch (role) {
    case CS_META_ROOT:
        rc = cs_repo_commit(r, err);
        break;
    case CS_META_TIMESTAMP: {
        cs_meta *timestamp = NULL;
        rc = cs_repo_sign_timestamp(r, r->snapshot, 0, &timestamp, err);
        if (rc == 0)
            rc = cs_repo_check(r, timestamp, NULL, NULL, 0, err);
        if (rc == 0)
            rc = cs_repo_commit(r, err);
        if (rc == 0) {
            out->timestamp_version = cs_meta_version(timestamp);
            out->timestamp_expires = cs_meta_expires(timestamp);
        }
        cs_meta_free(timestamp);
        break;
    }
    case CS_META_SNAPSHOT:
        rc = cs_repo_publish(r, NULL, 0, out, err);
        break;
    case CS_META_TARGETS: {
        cs_autojson json_t *t = json_deep_copy(cs_meta_signed(r->targets));
        cs_meta *targets = NULL;
        if (!t)
            return cs_error_set(err, ENOMEM, "out of memory");
        if ((rc = cs_repo_bump(t, r->now, CS_REPO_TARGETS_LIFETIME, 0, err)) < 0 ||
            (rc = cs_repo_sign(r, "targets.json", CS_META_TARGETS, t, &new_key, 1, true, &targets,
                               err)) < 0)
            return rc;
        const cs_meta *changed[1] = {targets};
        rc = cs_repo_publish(r, changed, 1, out, err);
        if (rc == 0)
            out->targets_version = cs_meta_version(targets);
        cs_meta_free(targets);
        break;
    }
    }
    out->root_version = cs_meta_version(r->root);
    return rc;
}

int cs_repo_rotate_key(const char *dir, const char *keys_dir, const char *role_name,
                       cs_repo_result *out, cs_error *err)
{
    memset(out, 0, sizeof(*out));
    int role = -1;
    for (int i = 0; i < 4; i++) {
        if (strcmp(role_name, cs_meta_role_names[i]) == 0)
            role = i;
    }
    if (role < 0)
        return cs_error_set(err, EINVAL,
                            "role '%s' is not root, targets, snapshot or timestamp; change the key "
                            "of a delegated role with 'cashstory repo delegate'",
                            role_name);
    cs_cleanup(cs_repo_close) repo r;
    int rc = cs_repo_open(&r, dir, keys_dir, true, err);
    if (rc < 0)
        return rc;

    char base[64], key_path[PATH_MAX], pub_path[PATH_MAX];
    snprintf(base, sizeof(base), "%s.new", role_name);
    key_file(key_path, sizeof(key_path), keys_dir, base, "key");
    key_file(pub_path, sizeof(pub_path), keys_dir, base, "pub");
    if (access(key_path, F_OK) == 0 || access(pub_path, F_OK) == 0)
        return cs_error_set(err, EEXIST,
                            "%s or %s exists from a rotation that did not finish; check that "
                            "root.json does not list it, remove both files and run the command "
                            "again",
                            key_path, pub_path);

    /* Load the old root key first, so that a rotation of the root key keeps
     * both apart. */
    EVP_PKEY *old_root_key;
    if ((rc = cs_repo_role_key(&r, CS_META_ROOT, &old_root_key, err)) < 0)
        return rc;
    EVP_PKEY *new_key = NULL;
    if ((rc = cs_repo_generate_key(keys_dir, base, &new_key, out->key_id, err)) < 0)
        return rc;
    out->key_generated = true;
    repo_key *grown = realloc(r.keys, (r.nkeys + 1) * sizeof(*grown));
    if (!grown) {
        EVP_PKEY_free(new_key);
        rc = cs_error_set(err, ENOMEM, "out of memory");
    } else {
        r.keys = grown;
        r.keys[r.nkeys].key = new_key;
        r.keys[r.nkeys].base = strdup(role == CS_META_ROOT ? base : role_name);
        r.nkeys++;
        rc = r.keys[r.nkeys - 1].base
                 ? rotate(&r, (cs_meta_type)role, new_key, out->key_id, out, err)
                 : cs_error_set(err, ENOMEM, "out of memory");
    }
    if (rc < 0 && r.ncommitted == 0) {
        unlink(key_path);
        unlink(pub_path);
        return rc;
    }
    if (rc < 0)
        return cs_error_prefix(err,
                               "the rotation stopped after writing %zu %s; %s.key is the new "
                               "key that %s names, keep it",
                               r.ncommitted, r.ncommitted == 1 ? "file" : "files", base,
                               r.staged[0].name);
    return swap_key_files(keys_dir, role_name, cs_meta_version(r.root) - 1, err);
}
