#include "package/store.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/hex.h"
#include "common/json.h"
#include "package/manifest.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

/* An open store: its path, its lock and its apps folder. */
typedef struct store {
    const char *path;
    int lock_fd;
    int apps_fd;
    int tmp_fd;
} store;

static void store_close(store *s)
{
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    if (s->apps_fd >= 0)
        close(s->apps_fd);
    if (s->tmp_fd >= 0)
        close(s->tmp_fd);
    s->lock_fd = s->apps_fd = s->tmp_fd = -1;
}

static int open_dir_at(int dirfd, const char *name, bool create, const char *store_path,
                       cs_error *err)
{
    if (create && mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
        return cs_error_errno(err, errno, "cannot create %s/%s", store_path, name);
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return cs_error_errno(err, errno, "cannot open %s/%s", store_path, name);
    return fd;
}

/* Remove leftovers of interrupted commands (everything in tmp/) and version
 * folders that neither "current" nor "previous" names. The caller holds the
 * lock, so no other command is using them. */
static void collect_garbage(store *s)
{
    /* A dup'ed descriptor shares the read position, hence the rewinds. */
    DIR *d = fdopendir(dup(s->tmp_fd));
    if (d) {
        rewinddir(d);
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] != '.')
                cs_remove_tree_at(s->tmp_fd, de->d_name);
        }
        closedir(d);
    }

    DIR *apps = fdopendir(dup(s->apps_fd));
    if (!apps)
        return;
    rewinddir(apps);
    struct dirent *app;
    while ((app = readdir(apps)) != NULL) {
        if (app->d_name[0] == '.')
            continue;
        int app_fd =
            openat(s->apps_fd, app->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (app_fd < 0)
            continue;
        char current[NAME_MAX + 1] = "", previous[NAME_MAX + 1] = "";
        ssize_t n = readlinkat(app_fd, "current", current, sizeof(current) - 1);
        current[n > 0 ? n : 0] = '\0';
        n = readlinkat(app_fd, "previous", previous, sizeof(previous) - 1);
        previous[n > 0 ? n : 0] = '\0';
        char next[NAME_MAX + 1] = "";
        n = readlinkat(app_fd, "next", next, sizeof(next) - 1);
        next[n > 0 ? n : 0] = '\0';

        DIR *versions = fdopendir(dup(app_fd));
        struct dirent *v;
        while (versions && (v = readdir(versions)) != NULL) {
            if (strcmp(v->d_name, ".") == 0 || strcmp(v->d_name, "..") == 0 ||
                strcmp(v->d_name, "current") == 0 || strcmp(v->d_name, "previous") == 0 ||
                strcmp(v->d_name, "next") == 0 || strcmp(v->d_name, current) == 0 ||
                strcmp(v->d_name, previous) == 0 || strcmp(v->d_name, next) == 0)
                continue;
            cs_remove_tree_at(app_fd, v->d_name);
        }
        if (versions)
            closedir(versions);
        /* An app folder without "current" is an interrupted first install. */
        if (current[0] == '\0') {
            unlinkat(app_fd, "previous", 0);
            unlinkat(app_fd, "next", 0);
        }
        close(app_fd);
        if (current[0] == '\0')
            cs_remove_tree_at(s->apps_fd, app->d_name);
    }
    closedir(apps);
}

/* Open the store, creating it when create is set, and take its lock when
 * exclusive is set. */
static int store_open(const char *path, bool create, bool exclusive, store *s, cs_error *err)
{
    s->path = path;
    s->lock_fd = s->apps_fd = s->tmp_fd = -1;
    if (create) {
        int rc = cs_mkdir_p(path, 0755, err);
        if (rc < 0)
            return cs_error_prefix(err, "store");
    }
    cs_autoclose int root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        if (errno == ENOENT)
            return cs_error_set(err, ENOENT, "store %s does not exist (nothing is installed there)",
                                path);
        return cs_error_errno(err, errno, "cannot open store %s", path);
    }
    if (exclusive) {
        s->lock_fd = openat(root, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (s->lock_fd < 0)
            return cs_error_errno(err, errno, "cannot open %s/lock", path);
        if (flock(s->lock_fd, LOCK_EX) < 0) {
            int rc = cs_error_errno(err, errno, "cannot lock %s/lock", path);
            store_close(s);
            return rc;
        }
    }
    s->apps_fd = open_dir_at(root, "apps", exclusive, path, err);
    if (s->apps_fd < 0) {
        int rc = s->apps_fd;
        store_close(s);
        if (!exclusive && rc == -ENOENT)
            return cs_error_set(err, ENOENT, "store %s has no installed apps", path);
        return rc;
    }
    if (exclusive) {
        s->tmp_fd = open_dir_at(root, "tmp", true, path, err);
        if (s->tmp_fd < 0) {
            int rc = s->tmp_fd;
            store_close(s);
            return rc;
        }
        collect_garbage(s);
    }
    return 0;
}

/* Make every folder below dirfd/name read-only, deepest first. */
static void make_tree_read_only(int parent_fd, const char *name)
{
    int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat sb;
        if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode))
            make_tree_read_only(dirfd(d), de->d_name);
    }
    closedir(d);
    fchmodat(parent_fd, name, 0555, 0);
}

static int write_origin_url(int stage_fd, const char *url, const char *protocol,
                            const cs_verify_result *res, cs_error *err)
{
    char digest[CS_SHA256_HEX_LEN + 1];
    cs_hex_encode(res->index_sha256, CS_SHA256_LEN, digest);
    char now[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);

    json_t *origin = json_pack("{s:s, s:s, s:s, s:s}", "url", url, "protocol", protocol,
                               "installed_at", now, "index_sha256", digest);
    char *text = origin ? cs_json_dump_canonical(origin) : NULL;
    json_decref(origin);
    if (!text)
        return cs_error_set(err, ENOMEM, "out of memory");
    int fd = cs_open_beneath(stage_fd, CS_META_ORIGIN, O_WRONLY | O_CREAT | O_EXCL, 0444);
    int rc = fd < 0 ? fd : cs_write_all(fd, text, strlen(text));
    if (fd >= 0)
        close(fd);
    free(text);
    if (rc < 0)
        return cs_error_errno(err, -rc, "cannot write %s", CS_META_ORIGIN);
    return 0;
}

static int write_origin(int stage_fd, const char *csa_path, const cs_verify_result *res,
                        cs_error *err)
{
    char real[PATH_MAX];
    if (!realpath(csa_path, real))
        return cs_error_errno(err, errno, "cannot resolve %s", csa_path);
    char url[PATH_MAX + 16];
    snprintf(url, sizeof(url), "file://%s", real);
    return write_origin_url(stage_fd, url, "file", res, err);
}

/* Point apps/<id>/<link> at target atomically. */
static int set_link(int app_fd, const char *link, const char *target, cs_error *err)
{
    char tmp[64];
    snprintf(tmp, sizeof(tmp), ".%s.new", link);
    unlinkat(app_fd, tmp, 0);
    if (symlinkat(target, app_fd, tmp) < 0)
        return cs_error_errno(err, errno, "cannot create link %s", tmp);
    if (renameat(app_fd, tmp, app_fd, link) < 0) {
        int rc = cs_error_errno(err, errno, "cannot replace link %s", link);
        unlinkat(app_fd, tmp, 0);
        return rc;
    }
    return 0;
}

int cs_store_install(const char *store_path, const char *csa_path, const cs_trust *trust,
                     cs_verify_result *res, cs_error *err)
{
    memset(res, 0, sizeof(*res));
    store s;
    int rc = store_open(store_path, true, true, &s, err);
    if (rc < 0)
        return rc;

    char stage[64] = "install-XXXXXX";
    char stage_path[PATH_MAX];
    snprintf(stage_path, sizeof(stage_path), "%s/tmp/%s", store_path, stage);
    if (!mkdtemp(stage_path)) {
        rc = cs_error_errno(err, errno, "cannot create a staging folder in %s/tmp", store_path);
        store_close(&s);
        return rc;
    }
    snprintf(stage, sizeof(stage), "%s", strrchr(stage_path, '/') + 1);
    int stage_fd = openat(s.tmp_fd, stage, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (stage_fd < 0) {
        rc = cs_error_errno(err, errno, "cannot open %s", stage_path);
        goto fail;
    }
    fchmod(stage_fd, 0755);

    rc = cs_verify_archive(csa_path, trust, stage_fd, res, err);
    if (rc < 0)
        goto fail;
    if ((rc = write_origin(stage_fd, csa_path, res, err)) < 0)
        goto fail;
    make_tree_read_only(s.tmp_fd, stage);
    /* Moving a folder to another parent needs write access to the folder
     * itself (its ".." entry changes), so the top folder becomes read-only
     * only after the rename below. */
    fchmodat(s.tmp_fd, stage, 0755, 0);
    if (syncfs(stage_fd) < 0) {
        rc = cs_error_errno(err, errno, "cannot flush %s", stage_path);
        goto fail;
    }

    const char *id = res->index.app_id;
    int app_fd = open_dir_at(s.apps_fd, id, true, store_path, err);
    if (app_fd < 0) {
        rc = app_fd;
        goto fail;
    }
    char version_dir[CS_VERSION_DIR_MAX];
    snprintf(version_dir, sizeof(version_dir), "%s-%s", res->index.version,
             stage + strlen("install-"));
    if (renameat(s.tmp_fd, stage, app_fd, version_dir) < 0) {
        rc = cs_error_errno(err, errno, "cannot move the new version into %s/apps/%s", store_path,
                            id);
        close(app_fd);
        goto fail;
    }
    fchmodat(app_fd, version_dir, 0555, 0);

    char old[NAME_MAX + 1];
    ssize_t n = readlinkat(app_fd, "current", old, sizeof(old) - 1);
    if (n > 0) {
        old[n] = '\0';
        rc = set_link(app_fd, "previous", old, err);
    }
    if (rc == 0)
        rc = set_link(app_fd, "current", version_dir, err);
    /* This install supersedes a version staged for the next start. */
    if (rc == 0)
        unlinkat(app_fd, "next", 0);
    fsync(app_fd);
    close(app_fd);
    if (rc < 0) {
        close(stage_fd);
        store_close(&s);
        return rc;
    }
    close(stage_fd);
    /* The version that was "previous" before this install is garbage now. */
    collect_garbage(&s);
    store_close(&s);
    return 0;

fail:
    if (stage_fd >= 0)
        close(stage_fd);
    cs_remove_tree_at(s.tmp_fd, stage);
    store_close(&s);
    return rc;
}

int cs_store_app_path(const char *store_path, const char *id, char **path, cs_error *err)
{
    cs_error inner = {0};
    if (cs_app_id_check(id, &inner) < 0)
        return cs_error_set(err, EINVAL, "invalid app id: %s", inner.message);
    store s;
    int rc = store_open(store_path, false, false, &s, err);
    if (rc < 0)
        return rc;
    char target[NAME_MAX + 1];
    char link[CS_APP_ID_MAX + 16];
    snprintf(link, sizeof(link), "%s/current", id);
    ssize_t n = readlinkat(s.apps_fd, link, target, sizeof(target) - 1);
    store_close(&s);
    if (n <= 0)
        return cs_error_set(err, ENOENT, "app '%s' is not installed in store %s", id, store_path);
    target[n] = '\0';
    if (strchr(target, '/') || strcmp(target, "..") == 0 || strcmp(target, ".") == 0)
        return cs_error_set(err, EINVAL, "%s/apps/%s/current points outside the app folder",
                            store_path, id);
    if (asprintf(path, "%s/apps/%s/%s", store_path, id, target) < 0)
        return cs_error_set(err, ENOMEM, "out of memory");
    return 0;
}

static char *origin_url(const char *version_path)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", version_path, CS_META_ORIGIN);
    uint8_t *data = NULL;
    size_t len = 0;
    if (cs_read_file(path, 64 * 1024, &data, &len, NULL) < 0)
        return NULL;
    json_t *root = json_loadb((const char *)data, len, 0, NULL);
    free(data);
    const char *url = json_string_value(json_object_get(root, "url"));
    char *copy = url ? strdup(url) : NULL;
    json_decref(root);
    return copy;
}

static int compare_apps(const void *a, const void *b)
{
    return strcmp(((const cs_installed_app *)a)->id, ((const cs_installed_app *)b)->id);
}

int cs_store_list(const char *store_path, cs_installed_app **apps, size_t *count, cs_error *err)
{
    *apps = NULL;
    *count = 0;
    store s;
    int rc = store_open(store_path, false, false, &s, err);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    DIR *d = fdopendir(dup(s.apps_fd));
    store_close(&s);
    if (!d)
        return cs_error_errno(err, errno, "cannot read %s/apps", store_path);
    rewinddir(d);

    cs_installed_app *list = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || cs_app_id_check(de->d_name, NULL) < 0)
            continue;
        char *path = NULL;
        if (cs_store_app_path(store_path, de->d_name, &path, NULL) < 0)
            continue;
        char index_path[PATH_MAX];
        snprintf(index_path, sizeof(index_path), "%s/%s", path, CS_META_INDEX);
        uint8_t *data = NULL;
        size_t len = 0;
        cs_index index;
        if (cs_read_file(index_path, CS_INDEX_MAX_BYTES, &data, &len, NULL) < 0 ||
            cs_index_parse(data, len, &index, NULL) < 0) {
            free(data);
            free(path);
            continue;
        }
        free(data);
        cs_installed_app *grown = realloc(list, (n + 1) * sizeof(*grown));
        if (!grown) {
            cs_index_free(&index);
            free(path);
            break;
        }
        list = grown;
        cs_installed_app *app = &list[n++];
        memset(app, 0, sizeof(*app));
        app->id = strdup(index.app_id);
        app->version = strdup(index.version);
        app->signer = strdup(index.signer_type == CS_SIGNER_X509 ? index.signer_subject
                                                                 : index.signer_key_id);
        app->origin = origin_url(path);
        app->path = path;
        cs_index_free(&index);
    }
    closedir(d);
    if (n > 1)
        qsort(list, n, sizeof(*list), compare_apps);
    *apps = list;
    *count = n;
    return 0;
}

void cs_store_list_free(cs_installed_app *apps, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(apps[i].id);
        free(apps[i].version);
        free(apps[i].name);
        free(apps[i].signer);
        free(apps[i].origin);
        free(apps[i].path);
    }
    free(apps);
}

int cs_store_remove(const char *store_path, const char *id, cs_error *err)
{
    cs_error inner = {0};
    if (cs_app_id_check(id, &inner) < 0)
        return cs_error_set(err, EINVAL, "invalid app id: %s", inner.message);
    store s;
    struct stat sb;
    if (stat(store_path, &sb) < 0)
        return cs_error_set(err, ENOENT, "app '%s' is not installed in store %s", id, store_path);
    int rc = store_open(store_path, false, true, &s, err);
    if (rc < 0)
        return rc;
    if (fstatat(s.apps_fd, id, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(sb.st_mode)) {
        store_close(&s);
        return cs_error_set(err, ENOENT, "app '%s' is not installed in store %s", id, store_path);
    }
    /* Move the app out of apps/ in one rename, so it is either installed or
     * gone. Deleting its files afterwards can then be interrupted safely. */
    char trash[64] = "remove-XXXXXX";
    char trash_path[PATH_MAX];
    snprintf(trash_path, sizeof(trash_path), "%s/tmp/%s", store_path, trash);
    if (!mkdtemp(trash_path)) {
        rc = cs_error_errno(err, errno, "cannot create a folder in %s/tmp", store_path);
        store_close(&s);
        return rc;
    }
    snprintf(trash, sizeof(trash), "%s/app", strrchr(trash_path, '/') + 1);
    if (renameat(s.apps_fd, id, s.tmp_fd, trash) < 0) {
        rc = cs_error_errno(err, errno, "cannot remove %s/apps/%s", store_path, id);
        store_close(&s);
        return rc;
    }
    fsync(s.apps_fd);
    *strchr(trash, '/') = '\0';
    cs_remove_tree_at(s.tmp_fd, trash);
    store_close(&s);
    return 0;
}

/* Read apps/<id>/<link> into target; returns -ENOENT when the link is absent
 * and -EINVAL when it names something outside the app folder. */
static int read_version_link(int app_fd, const char *link, char target[NAME_MAX + 1])
{
    ssize_t n = readlinkat(app_fd, link, target, NAME_MAX);
    if (n <= 0)
        return -ENOENT;
    target[n] = '\0';
    if (strchr(target, '/') || strcmp(target, "..") == 0 || strcmp(target, ".") == 0)
        return -EINVAL;
    return 0;
}

/* The version recorded in the signed index of apps/<id>/<dir>, or NULL. */
static char *version_of_dir(int app_fd, const char *dir)
{
    char rel[NAME_MAX + 32];
    snprintf(rel, sizeof(rel), "%s/%s", dir, CS_META_INDEX);
    uint8_t *data = NULL;
    size_t len = 0;
    if (cs_read_file_at(app_fd, rel, CS_INDEX_MAX_BYTES, true, &data, &len, NULL) < 0)
        return NULL;
    cs_index index;
    int rc = cs_index_parse(data, len, &index, NULL);
    free(data);
    if (rc < 0)
        return NULL;
    char *version = strdup(index.version);
    cs_index_free(&index);
    return version;
}

/* Six random lowercase letters and digits for a version folder name. */
static void random_suffix(char out[7])
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    uint8_t bytes[6];
    if (getentropy(bytes, sizeof(bytes)) < 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        for (size_t i = 0; i < sizeof(bytes); i++)
            bytes[i] = (uint8_t)((unsigned long)ts.tv_nsec >> (i * 5)) ^ (uint8_t)getpid();
    }
    for (size_t i = 0; i < 6; i++)
        out[i] = alphabet[bytes[i] % (sizeof(alphabet) - 1)];
    out[6] = '\0';
}

int cs_store_install_dir(const char *store_path, const char *stage_path, const cs_trust *trust,
                         const char *origin_url, const char *protocol, bool activate,
                         cs_verify_result *res, cs_error *err)
{
    memset(res, 0, sizeof(*res));
    store s;
    int rc = store_open(store_path, true, true, &s, err);
    if (rc < 0)
        return rc;
    cs_autofree char *parent = cs_dirname(stage_path);
    const char *name = strrchr(stage_path, '/') ? strrchr(stage_path, '/') + 1 : stage_path;
    cs_autoclose int parent_fd = -1;
    cs_autoclose int stage_fd = -1;
    cs_autoclose int app_fd = -1;
    if (!parent) {
        rc = cs_error_set(err, ENOMEM, "out of memory");
        goto out;
    }
    parent_fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (parent_fd < 0) {
        rc = cs_error_errno(err, errno, "cannot open %s", parent);
        goto out;
    }
    stage_fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (stage_fd < 0) {
        rc = cs_error_errno(err, errno, "cannot open %s", stage_path);
        goto out;
    }

    rc = cs_verify_dir(stage_path, trust, res, err);
    if (rc < 0)
        goto out;
    unlinkat(stage_fd, CS_META_ORIGIN, 0);
    if ((rc = write_origin_url(stage_fd, origin_url, protocol, res, err)) < 0)
        goto out;
    make_tree_read_only(parent_fd, name);
    /* As in cs_store_install, the top folder stays writable until it moved. */
    fchmodat(parent_fd, name, 0755, 0);
    if (syncfs(stage_fd) < 0) {
        rc = cs_error_errno(err, errno, "cannot flush %s", stage_path);
        goto out;
    }

    const char *id = res->index.app_id;
    app_fd = open_dir_at(s.apps_fd, id, true, store_path, err);
    if (app_fd < 0) {
        rc = app_fd;
        goto out;
    }
    char suffix[7];
    random_suffix(suffix);
    char version_dir[CS_VERSION_DIR_MAX];
    snprintf(version_dir, sizeof(version_dir), "%s-%s", res->index.version, suffix);
    if (renameat(parent_fd, name, app_fd, version_dir) < 0) {
        rc = cs_error_errno(err, errno, "cannot move %s into %s/apps/%s", stage_path, store_path,
                            id);
        goto out;
    }
    fchmodat(app_fd, version_dir, 0555, 0);

    char old[NAME_MAX + 1];
    if (!activate) {
        rc = set_link(app_fd, "next", version_dir, err);
    } else {
        if (read_version_link(app_fd, "current", old) == 0)
            rc = set_link(app_fd, "previous", old, err);
        if (rc == 0)
            rc = set_link(app_fd, "current", version_dir, err);
        if (rc == 0)
            unlinkat(app_fd, "next", 0);
    }
    fsync(app_fd);
    if (rc == 0)
        collect_garbage(&s);

out:
    store_close(&s);
    return rc;
}

int cs_store_link_version(const char *store_path, const char *id, const char *link, char **path,
                          char **version, cs_error *err)
{
    if (path)
        *path = NULL;
    if (version)
        *version = NULL;
    cs_error inner = {0};
    if (cs_app_id_check(id, &inner) < 0)
        return cs_error_set(err, EINVAL, "invalid app id: %s", inner.message);
    store s;
    int rc = store_open(store_path, false, false, &s, err);
    if (rc < 0)
        return rc;
    cs_autoclose int app_fd =
        openat(s.apps_fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    store_close(&s);
    char target[NAME_MAX + 1];
    if (app_fd < 0 || read_version_link(app_fd, link, target) < 0)
        return cs_error_set(err, ENOENT, "app '%s' has no '%s' version in store %s", id, link,
                            store_path);
    if (version && !(*version = version_of_dir(app_fd, target)))
        return cs_error_set(err, EIO, "cannot read the index of %s/apps/%s/%s", store_path, id,
                            target);
    if (path && asprintf(path, "%s/apps/%s/%s", store_path, id, target) < 0) {
        *path = NULL;
        return cs_error_set(err, ENOMEM, "out of memory");
    }
    return 0;
}

int cs_store_rollback(const char *store_path, const char *id, char **from, char **to, cs_error *err)
{
    *from = *to = NULL;
    cs_error inner = {0};
    if (cs_app_id_check(id, &inner) < 0)
        return cs_error_set(err, EINVAL, "invalid app id: %s", inner.message);
    store s;
    int rc = store_open(store_path, false, true, &s, err);
    if (rc < 0)
        return rc;
    cs_autoclose int app_fd =
        openat(s.apps_fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    char current[NAME_MAX + 1], previous[NAME_MAX + 1];
    if (app_fd < 0 || read_version_link(app_fd, "current", current) < 0) {
        rc = cs_error_set(err, ENOENT, "app '%s' is not installed in store %s", id, store_path);
        goto out;
    }
    if (read_version_link(app_fd, "previous", previous) < 0) {
        rc = cs_error_set(err, ENOENT,
                          "app '%s' has no previous version to roll back to in store %s", id,
                          store_path);
        goto out;
    }
    *from = version_of_dir(app_fd, current);
    *to = version_of_dir(app_fd, previous);
    if (!*to) {
        rc = cs_error_set(err, EIO, "cannot read the index of %s/apps/%s/%s", store_path, id,
                          previous);
        goto out;
    }

    /* Each rename leaves a usable "current". A crash between the two leaves
     * both links naming the version rolled back to, which still runs. */
    if ((rc = set_link(app_fd, "current", previous, err)) < 0)
        goto out;
    if ((rc = set_link(app_fd, "previous", current, err)) < 0)
        goto out;
    unlinkat(app_fd, "next", 0);
    fsync(app_fd);

out:
    if (rc < 0) {
        free(*from);
        free(*to);
        *from = *to = NULL;
    }
    store_close(&s);
    return rc;
}

int cs_store_activate_next(const char *store_path, const char *id, bool *activated, cs_error *err)
{
    *activated = false;
    if (cs_app_id_check(id, NULL) < 0)
        return cs_error_set(err, EINVAL, "invalid app id '%s'", id);
    /* Most starts find no staged version; they need not wait for the lock. */
    char link[PATH_MAX];
    struct stat sb;
    snprintf(link, sizeof(link), "%s/apps/%s/next", store_path, id);
    if (lstat(link, &sb) < 0)
        return 0;
    store s;
    int rc = store_open(store_path, false, true, &s, err);
    if (rc < 0)
        return rc == -ENOENT ? 0 : rc;
    cs_autoclose int app_fd =
        openat(s.apps_fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    char next[NAME_MAX + 1], current[NAME_MAX + 1];
    if (app_fd < 0 || read_version_link(app_fd, "next", next) < 0)
        goto out;
    if (read_version_link(app_fd, "current", current) == 0 &&
        (rc = set_link(app_fd, "previous", current, err)) < 0)
        goto out;
    if ((rc = set_link(app_fd, "current", next, err)) < 0)
        goto out;
    unlinkat(app_fd, "next", 0);
    fsync(app_fd);
    *activated = true;
    collect_garbage(&s);

out:
    store_close(&s);
    return rc;
}
