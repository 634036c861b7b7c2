/* repo init: create a repository, its key folder and version 1 of every
 * metadata file, and leave nothing behind when a step fails. */
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "update/repo_internal.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Write to out the absolute form of path with symbolic links resolved. The
 * trailing names that do not exist yet are appended as written, with "."
 * and ".." applied, so a folder can be checked before it is created. */
static int resolve_path(const char *path, char out[PATH_MAX], cs_error *err)
{
    char head[PATH_MAX];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(head))
        return cs_error_set(err, EINVAL, "'%s' is not a usable path", path);
    memcpy(head, path, len + 1);

    /* Cut names off the end until the rest exists: head[0, cut) exists and
     * path + cut is missing. */
    size_t cut = len;
    while (!realpath(cut ? head : ".", out)) {
        if (errno != ENOENT)
            return cs_error_errno(err, errno, "cannot resolve %s", path);
        while (cut > 0 && head[cut - 1] != '/')
            cut--;
        while (cut > 1 && head[cut - 1] == '/')
            cut--;
        head[cut] = '\0';
    }

    size_t used = strlen(out);
    const char *name = path + cut;
    while (*name) {
        size_t n = strcspn(name, "/");
        if (n == 2 && strncmp(name, "..", 2) == 0) {
            char *slash = strrchr(out, '/');
            used = slash && slash != out ? (size_t)(slash - out) : 1;
            out[used] = '\0';
        } else if (n > 0 && !(n == 1 && name[0] == '.')) {
            if (used + n + 2 > PATH_MAX)
                return cs_error_set(err, ENAMETOOLONG, "%s: the path is too long", path);
            if (used > 1)
                out[used++] = '/';
            memcpy(out + used, name, n);
            used += n;
            out[used] = '\0';
        }
        name += n;
        while (*name == '/')
            name++;
    }
    return 0;
}

int cs_repo_check_keys_outside(const char *dir, const char *keys_dir, cs_error *err)
{
    char real_dir[PATH_MAX], real_keys[PATH_MAX];
    int rc;
    if ((rc = resolve_path(dir, real_dir, err)) < 0 ||
        (rc = resolve_path(keys_dir, real_keys, err)) < 0)
        return rc;
    size_t n = strlen(real_dir);
    bool inside = strncmp(real_keys, real_dir, n) == 0 &&
                  (real_keys[n] == '\0' || real_keys[n] == '/' || strcmp(real_dir, "/") == 0);
    if (inside)
        return cs_error_set(err, EINVAL,
                            "the key folder %s is inside the repository folder %s, which a web "
                            "server publishes; choose a --keys folder outside it",
                            keys_dir, dir);
    return 0;
}

/* The outermost folder of path that does not exist yet, or NULL when path
 * exists (or out of memory, which the caller's mkdir then reports). */
static char *first_missing(const char *path)
{
    if (access(path, F_OK) == 0)
        return NULL;
    char *missing = strdup(path);
    while (missing) {
        cs_autofree char *parent = cs_dirname(missing);
        if (!parent || strcmp(parent, missing) == 0 || access(parent, F_OK) == 0)
            break;
        free(missing);
        missing = cs_steal(&parent);
    }
    return missing;
}

/* Create the files of a new repository in dir, which exists, and count
 * the role keys generated in keys_dir. */
static int init_repository(repo *r, const char *dir, const char *keys_dir, cs_repo_result *out,
                           int *generated, cs_error *err)
{
    int rc;
    r->dir = dir;
    r->keys_dir = keys_dir;
    r->now = time(NULL);
    r->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r->dirfd < 0 || flock(r->dirfd, LOCK_EX) < 0)
        return cs_error_errno(err, errno, "cannot open and lock %s", dir);
    cs_autofree char *existing = cs_repo_path(dir, "root.json");
    if (!existing)
        return cs_error_set(err, ENOMEM, "out of memory");
    if (access(existing, F_OK) == 0)
        return cs_error_set(err, EEXIST, "%s already exists; %s is a repository already", existing,
                            dir);

    /* One key per role, so each can be kept where its command runs. */
    EVP_PKEY *keys[4];
    char ids[4][CS_KEY_ID_HEX_LEN + 1];
    cs_autojson json_t *root = cs_repo_header("root", r->now + CS_REPO_ROOT_LIFETIME);
    json_t *key_entries = json_object(), *roles = json_object();
    if (!root || !key_entries || !roles || json_object_set_new(root, "keys", key_entries) < 0 ||
        json_object_set_new(root, "roles", roles) < 0)
        return cs_error_set(err, ENOMEM, "out of memory");
    for (int i = 0; i < 4; i++) {
        const char *role = cs_meta_role_names[i];
        if ((rc = cs_repo_generate_key(keys_dir, role, &keys[i], ids[i], err)) < 0)
            return rc;
        (*generated)++;
        repo_key *grown = realloc(r->keys, (r->nkeys + 1) * sizeof(*grown));
        if (!grown) {
            EVP_PKEY_free(keys[i]);
            return cs_error_set(err, ENOMEM, "out of memory");
        }
        r->keys = grown;
        r->keys[r->nkeys].key = keys[i];
        r->keys[r->nkeys++].base = strdup(role);
        if (json_object_set_new(key_entries, ids[i], cs_repo_key_entry(keys[i])) < 0 ||
            json_object_set_new(roles, role,
                                json_pack("{s:[s], s:i}", "keyids", ids[i], "threshold", 1)) < 0)
            return cs_error_set(err, ENOMEM, "out of memory");
    }

    cs_autojson json_t *targets = cs_repo_header("targets", r->now + CS_REPO_TARGETS_LIFETIME);
    if (!targets || json_object_set_new(targets, "targets", json_object()) < 0)
        return cs_error_set(err, ENOMEM, "out of memory");
    if ((rc = cs_repo_sign(r, "1.root.json", CS_META_ROOT, root, &keys[CS_META_ROOT], 1, false,
                           &r->root, err)) < 0 ||
        (rc = cs_repo_stage(r, "root.json", r->staged[0].data, r->staged[0].len, err)) < 0 ||
        (rc = cs_repo_sign(r, "targets.json", CS_META_TARGETS, targets, &keys[CS_META_TARGETS], 1,
                           true, &r->targets, err)) < 0)
        return rc;

    cs_autojson json_t *snapshot = cs_repo_header("snapshot", r->now + CS_REPO_SNAPSHOT_LIFETIME);
    if (!snapshot ||
        json_object_set_new(snapshot, "meta",
                            json_pack("{s:o}", "targets.json", cs_repo_file_entry(r->targets))) < 0)
        return cs_error_set(err, ENOMEM, "out of memory");
    if ((rc = cs_repo_sign(r, "snapshot.json", CS_META_SNAPSHOT, snapshot, &keys[CS_META_SNAPSHOT],
                           1, true, &r->snapshot, err)) < 0)
        return rc;
    cs_autojson json_t *timestamp =
        cs_repo_header("timestamp", r->now + CS_REPO_TIMESTAMP_LIFETIME);
    if (!timestamp ||
        json_object_set_new(timestamp, "snapshot", cs_repo_file_entry(r->snapshot)) < 0)
        return cs_error_set(err, ENOMEM, "out of memory");
    if ((rc = cs_repo_sign(r, "timestamp.json", CS_META_TIMESTAMP, timestamp,
                           &keys[CS_META_TIMESTAMP], 1, false, &r->timestamp, err)) < 0)
        return rc;

    if ((rc = cs_meta_verify_role(r->root, CS_META_ROOT, r->root, err)) < 0 ||
        (rc = cs_meta_verify_timestamp(r->root, NULL, r->timestamp, r->now, err)) < 0 ||
        (rc = cs_meta_verify_snapshot(r->root, r->timestamp, NULL, r->snapshot, r->now, err)) < 0 ||
        (rc = cs_meta_verify_targets(r->root, r->snapshot, r->targets, r->now, err)) < 0)
        return rc;

    cs_autofree char *blobs = cs_repo_path(dir, "blobs/sha256");
    if (!blobs)
        return cs_error_set(err, ENOMEM, "out of memory");
    if ((rc = cs_mkdir_p(blobs, 0755, err)) < 0 || (rc = cs_repo_commit(r, err)) < 0)
        return rc;
    out->root_version = out->targets_version = out->snapshot_version = out->timestamp_version = 1;
    out->timestamp_expires = cs_meta_expires(r->timestamp);
    return 0;
}

/* Remove what a failed cs_repo_init created: the folders it made, else the
 * key files it generated and the files it wrote. */
static void undo_init(repo *r, const char *dir, const char *made_dir, const char *keys_dir,
                      bool made_keys, int generated, bool made_blobs)
{
    if (made_keys) {
        cs_remove_tree_at(AT_FDCWD, keys_dir);
    } else {
        for (int i = 0; i < generated; i++) {
            char path[PATH_MAX];
            snprintf(path, sizeof(path), "%s/%s.key", keys_dir, cs_meta_role_names[i]);
            unlink(path);
            snprintf(path, sizeof(path), "%s/%s.pub", keys_dir, cs_meta_role_names[i]);
            unlink(path);
        }
    }
    if (made_dir) {
        cs_remove_tree_at(AT_FDCWD, made_dir);
        return;
    }
    for (size_t i = 0; i < r->ncommitted; i++)
        unlinkat(r->dirfd, r->staged[i].name, 0);
    if (made_blobs) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/blobs/sha256", dir);
        rmdir(path);
        snprintf(path, sizeof(path), "%s/blobs", dir);
        rmdir(path);
    }
}

int cs_repo_init(const char *dir, const char *keys_dir, cs_repo_result *out, cs_error *err)
{
    memset(out, 0, sizeof(*out));
    /* Check before creating anything, so that a rejected command leaves no
     * folder behind. */
    int rc = cs_repo_check_keys_outside(dir, keys_dir, err);
    if (rc < 0)
        return rc;
    cs_autofree char *existing = cs_repo_path(dir, "root.json");
    cs_autofree char *blobs = cs_repo_path(dir, "blobs");
    if (!existing || !blobs)
        return cs_error_set(err, ENOMEM, "out of memory");
    if (access(existing, F_OK) == 0)
        return cs_error_set(err, EEXIST, "%s already exists; %s is a repository already", existing,
                            dir);

    for (int i = 0; i < 4; i++) {
        static const char *const exts[] = {"key", "pub"};
        for (int e = 0; e < 2; e++) {
            char path[PATH_MAX];
            snprintf(path, sizeof(path), "%s/%s.%s", keys_dir, cs_meta_role_names[i], exts[e]);
            if (access(path, F_OK) == 0)
                return cs_error_set(err, EEXIST,
                                    "%s already exists; give repo init a --keys folder that "
                                    "contains no role keys",
                                    path);
        }
    }

    cs_autofree char *made_dir = first_missing(dir);
    bool made_keys = access(keys_dir, F_OK) != 0;
    bool made_blobs = access(blobs, F_OK) != 0;
    cs_cleanup(cs_repo_close) repo r = {.dirfd = -1};
    int generated = 0;
    if ((rc = cs_mkdir_p(dir, 0755, err)) == 0) {
        if (made_keys && mkdir(keys_dir, 0700) < 0) {
            made_keys = false;
            rc = cs_error_errno(err, errno, "cannot create the key folder %s", keys_dir);
        } else {
            rc = init_repository(&r, dir, keys_dir, out, &generated, err);
        }
    }
    if (rc < 0)
        undo_init(&r, dir, made_dir, keys_dir, made_keys, generated, made_blobs);
    return rc;
}
