#include "app/fs_policy.h"

#include "app/vpath.h"
#include "common/cleanup.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Absolute normalized form of path: relative paths start in base (an
 * absolute path) and '..' stops at '/'. */
static char *absolute_path(const char *base, const char *path)
{
    const char *start = path;
    if (path[0] == '/') {
        start = path + 1;
        base = "";
    }
    cs_autofree char *normalized = NULL;
    if (cs_app_path_normalize(base[0] == '/' ? base + 1 : base, start, true, &normalized) < 0)
        return NULL;
    char *out;
    if (asprintf(&out, "/%s", normalized) < 0)
        return NULL;
    return out;
}

static int add_root(cs_app_fs_policy *policy, const char *given, bool writable, bool is_data,
                    cs_error *err)
{
    const char *what = is_data ? "the data folder" : "the granted path";
    cs_autofree char *cwd = getcwd(NULL, 0);
    cs_autofree char *path = absolute_path(cwd ? cwd : "/", given);
    if (!path)
        return cs_error_set(err, ENOMEM, "out of memory");

    cs_app_fs_root root = {.dir_fd = -1, .writable = writable, .is_data = is_data};
    root.dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root.dir_fd < 0 && (is_data || (errno != ENOTDIR && errno != ENOENT)))
        return cs_error_errno(err, errno, "cannot open %s %s", what, given);
    if (root.dir_fd < 0) {
        /* A grant of one file, which may not exist yet. */
        if (strcmp(path, "/") == 0)
            return cs_error_set(err, EINVAL, "cannot open %s /", what);
        char *slash = strrchr(path, '/');
        cs_autofree char *parent =
            slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
        root.file_name = strdup(slash + 1);
        if (!parent || !root.file_name) {
            free(root.file_name);
            return cs_error_set(err, ENOMEM, "out of memory");
        }
        root.dir_fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root.dir_fd < 0) {
            int saved = errno;
            free(root.file_name);
            return cs_error_errno(err, saved, "cannot open the folder of %s %s", what, given);
        }
    }

    cs_app_fs_root *roots = realloc(policy->roots, (policy->nroots + 1) * sizeof(*roots));
    if (!roots) {
        close(root.dir_fd);
        free(root.file_name);
        return cs_error_set(err, ENOMEM, "out of memory");
    }
    root.path = cs_steal(&path);
    roots[policy->nroots++] = root;
    policy->roots = roots;
    return 0;
}

int cs_app_fs_policy_init(cs_app_fs_policy *policy, const char *data_dir,
                          const cs_app_grant *grants, size_t ngrants, cs_error *err)
{
    memset(policy, 0, sizeof(*policy));
    int rc = 0;
    if (data_dir)
        rc = add_root(policy, data_dir, true, true, err);
    for (size_t i = 0; rc == 0 && i < ngrants; i++)
        rc = add_root(policy, grants[i].path, grants[i].writable, false, err);
    if (rc < 0) {
        cs_app_fs_policy_free(policy);
        return rc;
    }
    /* Set after the array stopped moving. */
    if (data_dir)
        policy->data = &policy->roots[0];
    return 0;
}

void cs_app_fs_policy_free(cs_app_fs_policy *policy)
{
    for (size_t i = 0; i < policy->nroots; i++) {
        free(policy->roots[i].path);
        free(policy->roots[i].file_name);
        if (policy->roots[i].dir_fd >= 0)
            close(policy->roots[i].dir_fd);
    }
    free(policy->roots);
    memset(policy, 0, sizeof(*policy));
}

/* Length of the part of path that root covers, or 0 when it covers none. */
static size_t match_root(const cs_app_fs_root *root, const char *path)
{
    size_t n = strlen(root->path);
    if (root->file_name)
        return strcmp(path, root->path) == 0 ? n : 0;
    if (n == 1)
        return 1; /* the root is "/" */
    if (strncmp(path, root->path, n) == 0 && (path[n] == '\0' || path[n] == '/'))
        return n;
    return 0;
}

static int denied(cs_error *err, const char *operation, const char *request, const char *absolute,
                  const char *reason)
{
    if (strcmp(request, absolute) == 0)
        return cs_error_set(err, EACCES, "cashstory.fs.%s: permission denied for %s: %s", operation,
                            request, reason);
    return cs_error_set(err, EACCES, "cashstory.fs.%s: permission denied for %s (%s): %s",
                        operation, request, absolute, reason);
}

int cs_app_fs_policy_check(const cs_app_fs_policy *policy, const char *operation,
                           const char *request, size_t len, bool write, cs_app_fs_target *out,
                           cs_error *err)
{
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return cs_error_set(err, EINVAL, "cashstory.fs.%s: the path is empty", operation);
    if (memchr(request, '\0', len))
        return cs_error_set(err, EINVAL, "cashstory.fs.%s: the path contains a NUL character",
                            operation);
    if (request[0] != '/' && !policy->data)
        return cs_error_set(err, EACCES,
                            "cashstory.fs.%s: permission denied for %s: a relative path needs the "
                            "app data folder, and the app has none",
                            operation, request);

    cs_autofree char *absolute = absolute_path(policy->data ? policy->data->path : "/", request);
    if (!absolute)
        return cs_error_set(err, ENOMEM, "out of memory");

    const cs_app_fs_root *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < policy->nroots; i++) {
        size_t n = match_root(&policy->roots[i], absolute);
        if (n > best_len) {
            best = &policy->roots[i];
            best_len = n;
        }
    }
    if (!best)
        return denied(err, operation, request, absolute,
                      "not inside the app data folder or a granted path");
    if (write && !best->writable) {
        cs_autofree char *reason = NULL;
        if (asprintf(&reason, "the granted path %s is read-only", best->path) < 0)
            return cs_error_set(err, ENOMEM, "out of memory");
        return denied(err, operation, request, absolute, reason);
    }

    const char *rest = absolute + best_len;
    if (*rest == '/')
        rest++;
    out->relative = strdup(best->file_name ? best->file_name : rest);
    if (!out->relative)
        return cs_error_set(err, ENOMEM, "out of memory");
    out->root = best;
    out->absolute = cs_steal(&absolute);
    return 0;
}

void cs_app_fs_target_free(cs_app_fs_target *target)
{
    free(target->absolute);
    free(target->relative);
    memset(target, 0, sizeof(*target));
}
