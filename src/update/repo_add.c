/* repo add, promote and delegate: commands that change a targets file. */
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/hex.h"
#include "common/json.h"
#include "crypto/digest.h"
#include "package/index.h"
#include "package/verify.h"
#include "update/repo_internal.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STAGING ".staging"

void cs_repo_role_file_free(role_file *f)
{
    json_decref(f->signed_part);
}

static const json_t *delegated_role(const cs_meta *targets, const char *name)
{
    const json_t *roles =
        json_object_get(json_object_get(cs_meta_signed(targets), "delegations"), "roles");
    size_t i;
    json_t *role;
    json_array_foreach(roles, i, role)
    {
        if (strcmp(json_string_value(json_object_get(role, "name")), name) == 0)
            return role;
    }
    return NULL;
}

int cs_repo_load_role_file(repo *r, const char *role, role_file *f, cs_error *err)
{
    memset(f, 0, sizeof(*f));
    if (!role) {
        snprintf(f->name, sizeof(f->name), "targets.json");
        snprintf(f->role, sizeof(f->role), "targets");
        f->signed_part = json_deep_copy(cs_meta_signed(r->targets));
        if (!f->signed_part)
            return cs_error_set(err, ENOMEM, "out of memory");
        return cs_repo_role_key(r, CS_META_TARGETS, &f->key, err);
    }

    snprintf(f->name, sizeof(f->name), "delegations/%s.json", role);
    snprintf(f->role, sizeof(f->role), "%s", role);
    char base[CS_META_NAME_MAX + 16];
    snprintf(base, sizeof(base), "delegation-%s", role);
    const json_t *entry = delegated_role(r->targets, role);
    int rc = cs_repo_key(r, base, json_object_get(entry, "keyids"), f->name, &f->key, err);
    if (rc < 0)
        return rc;

    cs_meta *meta = NULL;
    rc = cs_repo_load_delegated(r->dir, r->snapshot, role, &meta, err);
    if (rc < 0)
        return rc;
    if (!meta) {
        f->signed_part = cs_repo_header("targets", r->now);
        if (!f->signed_part || json_object_set_new(f->signed_part, "targets", json_object()) < 0 ||
            json_object_set_new(f->signed_part, "version", json_integer(0)) < 0)
            return cs_error_set(err, ENOMEM, "out of memory");
        return 0;
    }
    f->signed_part = json_deep_copy(cs_meta_signed(meta));
    cs_meta_free(meta);
    if (!f->signed_part)
        return cs_error_set(err, ENOMEM, "out of memory");
    return 0;
}

int cs_repo_publish_role_file(repo *r, role_file *f, const cs_meta *extra, cs_repo_result *out,
                              cs_error *err)
{
    int rc = cs_repo_bump(f->signed_part, r->now, CS_REPO_TARGETS_LIFETIME, 0, err);
    if (rc < 0)
        return rc;
    cs_meta *meta = NULL;
    if ((rc = cs_repo_sign(r, f->name, CS_META_TARGETS, f->signed_part, &f->key, 1, true, &meta,
                           err)) < 0)
        return rc;
    const cs_meta *changed[2] = {meta, extra};
    rc = cs_repo_publish(r, changed, extra ? 2 : 1, out, err);
    if (rc == 0 && out && strcmp(f->name, "targets.json") == 0) {
        out->targets_version = cs_meta_version(meta);
    } else if (rc == 0 && out) {
        out->role_version = cs_meta_version(meta);
        snprintf(out->role, sizeof(out->role), "%s", f->role);
    }
    cs_meta_free(meta);
    return rc;
}

/* { "sha256", "size" } of the staged file rel, or NULL with err set. */
static json_t *hash_staged(int stage_fd, const char *rel, cs_error *err)
{
    cs_autoclose int fd = openat(stage_fd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        cs_error_errno(err, errno, "cannot open the extracted %s", rel);
        return NULL;
    }
    uint8_t digest[CS_SHA256_LEN];
    uint64_t size;
    int rc = cs_sha256_fd(fd, CS_INDEX_MAX_BYTES, digest, &size);
    if (rc < 0) {
        cs_error_errno(err, -rc, "cannot read the extracted %s", rel);
        return NULL;
    }
    char hex[CS_SHA256_HEX_LEN + 1];
    cs_hex_encode(digest, sizeof(digest), hex);
    json_t *blob = json_pack("{s:s, s:I}", "sha256", hex, "size", (json_int_t)size);
    if (!blob)
        cs_error_set(err, ENOMEM, "out of memory");
    return blob;
}

/* Move the staged file rel to blobs/sha256/HEX unless that blob exists. */
static int store_blob(int stage_fd, const char *rel, int blobs_fd, const char *hex, uint64_t size,
                      cs_repo_result *out, cs_error *err)
{
    struct stat st;
    if (fstatat(blobs_fd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        out->blobs_present++;
        return 0;
    }
    if (errno != ENOENT)
        return cs_error_errno(err, errno, "cannot check blob %s", hex);
    if (renameat(stage_fd, rel, blobs_fd, hex) < 0) {
        /* The same content twice in one package: the first copy moved. */
        if (errno == ENOENT && fstatat(blobs_fd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            out->blobs_present++;
            return 0;
        }
        return cs_error_errno(err, errno, "cannot move '%s' to blobs/sha256/%s", rel, hex);
    }
    fchmodat(blobs_fd, hex, 0444, 0);
    out->blobs_added++;
    out->bytes_added += size;
    return 0;
}

static int store_blobs(repo *r, int stage_fd, const cs_index *index, json_t *entry,
                       cs_repo_result *out, cs_error *err)
{
    cs_autoclose int blobs_fd =
        openat(r->dirfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (blobs_fd < 0)
        return cs_error_errno(err, errno, "cannot open %s/blobs/sha256", r->dir);
    int rc;
    static const struct {
        const char *field, *rel;
    } meta_files[] = {
        {"index", CS_META_INDEX},
        {"signature", CS_META_SIGNATURE},
        {"signer_key", CS_META_SIGNER_KEY},
    };
    for (size_t i = 0; i < 3; i++) {
        const json_t *blob = json_object_get(entry, meta_files[i].field);
        if (!blob)
            continue;
        const char *hex = json_string_value(json_object_get(blob, "sha256"));
        uint64_t size = (uint64_t)json_integer_value(json_object_get(blob, "size"));
        if ((rc = store_blob(stage_fd, meta_files[i].rel, blobs_fd, hex, size, out, err)) < 0)
            return rc;
    }
    for (size_t i = 0; i < index->nfiles; i++) {
        char hex[CS_SHA256_HEX_LEN + 1];
        cs_hex_encode(index->files[i].sha256, CS_SHA256_LEN, hex);
        if ((rc = store_blob(stage_fd, index->files[i].path, blobs_fd, hex, index->files[i].size,
                             out, err)) < 0)
            return rc;
    }
    if (fsync(blobs_fd) < 0)
        return cs_error_errno(err, errno, "cannot flush %s/blobs/sha256", r->dir);
    return 0;
}

/* The "versions" entry of a verified package, from its extracted files. */
static json_t *target_entry(int stage_fd, const cs_verify_result *res, cs_error *err)
{
    char index_hex[CS_SHA256_HEX_LEN + 1];
    cs_hex_encode(res->index_sha256, CS_SHA256_LEN, index_hex);
    struct stat st;
    if (fstatat(stage_fd, CS_META_INDEX, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        cs_error_errno(err, errno, "cannot read the extracted %s", CS_META_INDEX);
        return NULL;
    }
    json_t *signature = hash_staged(stage_fd, CS_META_SIGNATURE, err);
    if (!signature)
        return NULL;
    json_t *entry = json_pack("{s:{s:s, s:I}, s:o, s:s}", "index", "sha256", index_hex, "size",
                              (json_int_t)st.st_size, "signature", signature, "signer_key_id",
                              res->index.signer_key_id);
    if (!entry) {
        cs_error_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    if (res->index.signer_type == CS_SIGNER_ED25519) {
        json_t *key = hash_staged(stage_fd, CS_META_SIGNER_KEY, err);
        if (!key || json_object_set_new(entry, "signer_key", key) < 0) {
            json_decref(entry);
            return NULL;
        }
    }
    return entry;
}

/* List entry under app_id's versions in f and point channel at it. */
static int list_version(role_file *f, const char *app_id, const char *version, json_t *entry,
                        const char *channel, cs_error *err)
{
    json_t *targets = json_object_get(f->signed_part, "targets");
    json_t *app = json_object_get(targets, app_id);
    if (!app) {
        app = json_pack("{s:{}, s:{}}", "channels", "versions");
        if (!app || json_object_set_new(targets, app_id, app) < 0)
            return cs_error_set(err, ENOMEM, "out of memory");
    }
    json_t *versions = json_object_get(app, "versions");
    json_t *existing = json_object_get(versions, version);
    if (existing && !json_equal(existing, entry))
        return cs_error_set(
            err, EEXIST,
            "%s already lists %s version %s with another package index (SHA-256 "
            "%s); publish the change under a new version",
            f->name, app_id, version,
            json_string_value(json_object_get(json_object_get(existing, "index"), "sha256")));
    if (!existing && json_object_set(versions, version, entry) < 0)
        return cs_error_set(err, ENOMEM, "out of memory");
    if (json_object_set_new(json_object_get(app, "channels"), channel, json_string(version)) < 0)
        return cs_error_set(err, ENOMEM, "out of memory");
    return 0;
}

int cs_repo_add(const char *dir, const char *keys_dir, const char *package_path,
                const char *channel, const cs_trust *trust, cs_repo_result *out, cs_error *err)
{
    memset(out, 0, sizeof(*out));
    cs_cleanup(cs_repo_close) repo r;
    int rc = cs_repo_open(&r, dir, keys_dir, true, err);
    if (rc < 0)
        return rc;

    /* Extract into a private folder inside the repository, so that the
     * verified files reach blobs/sha256 by rename. A folder left by a failed
     * run is removed first; the lock keeps other commands out. */
    cs_remove_tree_at(r.dirfd, STAGING);
    if (mkdirat(r.dirfd, STAGING, 0700) < 0)
        return cs_error_errno(err, errno, "cannot create %s/%s", dir, STAGING);
    int stage_fd = openat(r.dirfd, STAGING, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    cs_verify_result res;
    memset(&res, 0, sizeof(res));
    role_file f = {0};
    json_t *entry = NULL;
    if (stage_fd < 0) {
        rc = cs_error_errno(err, errno, "cannot open %s/%s", dir, STAGING);
        goto out;
    }

    if ((rc = cs_verify_archive(package_path, trust, stage_fd, &res, err)) < 0) {
        cs_error_prefix(err, "%s was not added", package_path);
        goto out;
    }
    const char *app_id = res.index.app_id, *version = res.index.version;
    if ((rc = cs_repo_load_role_file(&r, cs_meta_delegation_for(r.targets, app_id), &f, err)) < 0)
        goto out;
    if (!(entry = target_entry(stage_fd, &res, err))) {
        rc = -err->code;
        goto out;
    }
    /* Sign and check the new metadata first, then store the blobs, then
     * write the metadata that names them. */
    r.hold_writes = true;
    if ((rc = list_version(&f, app_id, version, entry, channel, err)) < 0 ||
        (rc = cs_repo_publish_role_file(&r, &f, NULL, out, err)) < 0 ||
        (rc = store_blobs(&r, stage_fd, &res.index, entry, out, err)) < 0 ||
        (rc = cs_repo_commit(&r, err)) < 0)
        goto out;
    snprintf(out->app_id, sizeof(out->app_id), "%s", app_id);
    snprintf(out->version, sizeof(out->version), "%s", version);

out:
    json_decref(entry);
    cs_repo_role_file_free(&f);
    cs_verify_result_free(&res);
    if (stage_fd >= 0)
        close(stage_fd);
    cs_remove_tree_at(r.dirfd, STAGING);
    return rc;
}

int cs_repo_promote(const char *dir, const char *keys_dir, const char *app_id, const char *version,
                    const char *channel, cs_repo_result *out, cs_error *err)
{
    memset(out, 0, sizeof(*out));
    cs_cleanup(cs_repo_close) repo r;
    int rc = cs_repo_open(&r, dir, keys_dir, true, err);
    if (rc < 0)
        return rc;
    cs_cleanup(cs_repo_role_file_free) role_file f = {0};
    if ((rc = cs_repo_load_role_file(&r, cs_meta_delegation_for(r.targets, app_id), &f, err)) < 0)
        return rc;
    json_t *app = json_object_get(json_object_get(f.signed_part, "targets"), app_id);
    json_t *entry = json_object_get(json_object_get(app, "versions"), version);
    if (!entry)
        return cs_error_set(err, ENOENT,
                            "%s does not list %s version %s; publish it first with 'cashstory "
                            "repo add'",
                            f.name, app_id, version);
    if ((rc = list_version(&f, app_id, version, entry, channel, err)) < 0 ||
        (rc = cs_repo_publish_role_file(&r, &f, NULL, out, err)) < 0)
        return rc;
    snprintf(out->app_id, sizeof(out->app_id), "%s", app_id);
    snprintf(out->version, sizeof(out->version), "%s", version);
    return 0;
}

/* Remove the keys that no delegated role lists any more. */
static int prune_delegation_keys(json_t *delegations, cs_error *err)
{
    json_t *keys = json_object_get(delegations, "keys");
    json_t *roles = json_object_get(delegations, "roles");
    cs_autojson json_t *used = json_object();
    if (!used)
        return cs_error_set(err, ENOMEM, "out of memory");
    size_t i, j;
    json_t *role, *id;
    json_array_foreach(roles, i, role)
    {
        json_array_foreach(json_object_get(role, "keyids"), j, id)
        {
            json_object_set(used, json_string_value(id), json_true());
        }
    }
    const char *keyid;
    json_t *value;
    void *tmp;
    json_object_foreach_safe(keys, tmp, keyid, value)
    {
        if (!json_object_get(used, keyid))
            json_object_del(keys, keyid);
    }
    return 0;
}

/* Check the role name and patterns before anything is created, because a
 * name becomes part of a key file name. */
static int check_delegation(const char *name, const char *const *patterns, size_t npatterns,
                            cs_error *err)
{
    if (!cs_meta_role_name_valid(name))
        return cs_error_set(err, EINVAL,
                            "role name '%s' is invalid (1 to %d bytes of a-z, 0-9 and '-', not "
                            "'targets')",
                            name, CS_META_NAME_MAX);
    if (npatterns == 0)
        return cs_error_set(err, EINVAL, "no app id pattern given; add --pattern ID or ID.*");
    if (npatterns > CS_META_MAX_PATTERNS)
        return cs_error_set(err, EINVAL, "%zu patterns given, at most %d", npatterns,
                            CS_META_MAX_PATTERNS);
    for (size_t i = 0; i < npatterns; i++) {
        if (!cs_meta_pattern_valid(patterns[i]))
            return cs_error_set(err, EINVAL,
                                "pattern '%s' is invalid: expected an app id (com.acme.chart) or "
                                "an app id followed by '.*' (com.acme.*)",
                                patterns[i]);
    }
    return 0;
}

static int delegate(repo *r, const char *keys_dir, const char *name, const char *const *patterns,
                    size_t npatterns, cs_repo_result *out, cs_error *err)
{
    int rc;
    cs_cleanup(cs_repo_role_file_free) role_file top = {0};
    if ((rc = cs_repo_load_role_file(r, NULL, &top, err)) < 0)
        return rc;

    /* The publisher's key: an existing delegation-NAME.key, else a new one. */
    char base[CS_META_NAME_MAX + 16];
    if (snprintf(base, sizeof(base), "delegation-%s", name) >= (int)sizeof(base))
        return cs_error_set(err, EINVAL, "role name '%s' is longer than %d bytes", name,
                            CS_META_NAME_MAX);
    cs_autofree char *key_base = cs_repo_path(keys_dir, base);
    if (!key_base)
        return cs_error_set(err, ENOMEM, "out of memory");
    char key_path[PATH_MAX];
    snprintf(key_path, sizeof(key_path), "%s.key", key_base);
    EVP_PKEY *key;
    if (access(key_path, F_OK) < 0) {
        char id[CS_KEY_ID_HEX_LEN + 1];
        cs_autopkey EVP_PKEY *generated = NULL;
        if ((rc = cs_repo_generate_key(keys_dir, base, &generated, id, err)) < 0)
            return rc;
        out->key_generated = true;
    }
    if ((rc = cs_repo_key(r, base, NULL, "a delegated role", &key, err)) < 0)
        return rc;
    char keyid[CS_KEY_ID_HEX_LEN + 1];
    if (cs_key_id(key, keyid) < 0)
        return cs_error_set(err, EINVAL, "%s: cannot compute the key id", key_path);
    snprintf(out->key_id, sizeof(out->key_id), "%s", keyid);

    json_t *delegations = json_object_get(top.signed_part, "delegations");
    if (!delegations) {
        delegations = json_pack("{s:{}, s:[]}", "keys", "roles");
        if (!delegations || json_object_set_new(top.signed_part, "delegations", delegations) < 0)
            return cs_error_set(err, ENOMEM, "out of memory");
    }
    json_t *pattern_list = json_array();
    for (size_t i = 0; pattern_list && i < npatterns; i++)
        json_array_append_new(pattern_list, json_string(patterns[i]));
    json_t *role = json_pack("{s:s, s:[s], s:i, s:o}", "name", name, "keyids", keyid, "threshold",
                             1, "patterns", pattern_list);
    if (!role)
        return cs_error_set(err, ENOMEM, "out of memory");

    json_t *roles = json_object_get(delegations, "roles");
    const json_t *old = delegated_role(r->targets, name);
    bool key_changed =
        !old || !json_equal(json_object_get(old, "keyids"), json_object_get(role, "keyids"));
    size_t i;
    json_t *candidate;
    bool replaced = false;
    json_array_foreach(roles, i, candidate)
    {
        if (strcmp(json_string_value(json_object_get(candidate, "name")), name) == 0) {
            json_array_set(roles, i, role);
            replaced = true;
            break;
        }
    }
    if (!replaced && json_array_append(roles, role) < 0) {
        json_decref(role);
        return cs_error_set(err, ENOMEM, "out of memory");
    }
    json_decref(role);
    if (json_object_set_new(json_object_get(delegations, "keys"), keyid, cs_repo_key_entry(key)) <
        0)
        return cs_error_set(err, ENOMEM, "out of memory");
    if ((rc = prune_delegation_keys(delegations, err)) < 0)
        return rc;

    /* The role's own file: a first empty one, or the current one re-signed
     * when its key changed, so the new targets and it agree. */
    cs_cleanup(cs_repo_role_file_free) role_file delegated = {0};
    cs_meta *delegated_meta = NULL;
    char file[CS_META_NAME_MAX + 32];
    snprintf(file, sizeof(file), "delegations/%s.json", name);
    cs_meta_file listed;
    bool has_file = cs_meta_find_file(r->snapshot, file, &listed, NULL) == 0;
    if (!has_file || key_changed) {
        if ((rc = cs_repo_load_role_file(r, name, &delegated, err)) < 0)
            return rc;
        if ((rc = cs_repo_bump(delegated.signed_part, r->now, CS_REPO_TARGETS_LIFETIME, 0, err)) <
                0 ||
            (rc = cs_repo_sign(r, delegated.name, CS_META_TARGETS, delegated.signed_part, &key, 1,
                               true, &delegated_meta, err)) < 0)
            return rc;
    }
    rc = cs_repo_publish_role_file(r, &top, delegated_meta, out, err);
    if (rc == 0) {
        snprintf(out->role, sizeof(out->role), "%s", name);
        out->role_version = delegated_meta ? cs_meta_version(delegated_meta) : 0;
    }
    cs_meta_free(delegated_meta);
    return rc;
}

int cs_repo_delegate(const char *dir, const char *keys_dir, const char *name,
                     const char *const *patterns, size_t npatterns, cs_repo_result *out,
                     cs_error *err)
{
    memset(out, 0, sizeof(*out));
    int rc = check_delegation(name, patterns, npatterns, err);
    if (rc < 0)
        return rc;
    cs_cleanup(cs_repo_close) repo r;
    if ((rc = cs_repo_open(&r, dir, keys_dir, true, err)) < 0)
        return rc;
    rc = delegate(&r, keys_dir, name, patterns, npatterns, out, err);

    /* A key generated for a delegation that was not published is of no use. */
    if (rc < 0 && out->key_generated && r.ncommitted == 0) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/delegation-%s.key", keys_dir, name);
        unlink(path);
        snprintf(path, sizeof(path), "%s/delegation-%s.pub", keys_dir, name);
        unlink(path);
    }
    return rc;
}
