#include "app/fs_ops.h"

#include "common/cleanup.h"
#include "common/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Open rel (or the root itself when rel is "") below dir_fd. */
static int open_at_root(int dir_fd, const char *rel, int flags)
{
    if (rel[0] == '\0') {
        int fd = openat(dir_fd, ".", flags | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
    }
    return cs_open_beneath(dir_fd, rel, flags, 0);
}

/* Open the folder that contains rel and point *name at rel's last component. */
static int open_parent(int dir_fd, const char *rel, const char **name)
{
    const char *slash = strrchr(rel, '/');
    if (!slash) {
        *name = rel;
        return open_at_root(dir_fd, "", O_RDONLY | O_DIRECTORY);
    }
    *name = slash + 1;
    cs_autofree char *parent = strndup(rel, (size_t)(slash - rel));
    if (!parent)
        return -ENOMEM;
    return cs_open_beneath(dir_fd, parent, O_RDONLY | O_DIRECTORY, 0);
}

int cs_app_fs_read_file(int dir_fd, const char *rel, uint8_t **data, size_t *len)
{
    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    cs_autoclose int fd = open_at_root(dir_fd, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return fd;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (S_ISDIR(st.st_mode))
        return -EISDIR;
    if (!S_ISREG(st.st_mode))
        return -EINVAL;
    return cs_read_fd(fd, rel, CS_APP_FS_READ_MAX, data, len, NULL);
}

int cs_app_fs_write_file(int dir_fd, const char *rel, const uint8_t *data, size_t len)
{
    if (rel[0] == '\0')
        return -EISDIR;
    cs_autoclose int fd =
        cs_open_beneath(dir_fd, rel, O_WRONLY | O_CREAT | O_NONBLOCK | O_NOCTTY, 0600);
    if (fd < 0)
        return fd;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -EINVAL;
    /* Truncate only once the file is known to be a regular file. */
    if (ftruncate(fd, 0) < 0)
        return -errno;
    return cs_write_all(fd, data, len);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void cs_app_fs_names_free(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

int cs_app_fs_readdir(int dir_fd, const char *rel, char ***names, size_t *count)
{
    int fd = open_at_root(dir_fd, rel, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return fd;
    DIR *dir = fdopendir(fd);
    if (!dir) {
        int saved = errno;
        close(fd);
        return -saved;
    }
    char **list = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *entry;
    errno = 0;
    while ((entry = readdir(dir))) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(list, cap * sizeof(*grown));
            if (!grown) {
                rc = -ENOMEM;
                break;
            }
            list = grown;
        }
        if (!(list[n] = strdup(entry->d_name))) {
            rc = -ENOMEM;
            break;
        }
        n++;
        errno = 0;
    }
    if (rc == 0 && errno != 0)
        rc = -errno;
    closedir(dir);
    if (rc < 0) {
        cs_app_fs_names_free(list, n);
        return rc;
    }
    qsort(list, n, sizeof(*list), compare_names);
    *names = list;
    *count = n;
    return 0;
}

int cs_app_fs_stat(int dir_fd, const char *rel, struct stat *st)
{
    if (rel[0] == '\0')
        return fstat(dir_fd, st) < 0 ? -errno : 0;
    const char *name;
    cs_autoclose int parent = open_parent(dir_fd, rel, &name);
    if (parent < 0)
        return parent;
    return fstatat(parent, name, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

int cs_app_fs_mkdir(int dir_fd, const char *rel, bool recursive)
{
    if (rel[0] == '\0')
        return recursive ? 0 : -EEXIST;
    if (!recursive) {
        const char *name;
        cs_autoclose int parent = open_parent(dir_fd, rel, &name);
        if (parent < 0)
            return parent;
        return mkdirat(parent, name, 0700) < 0 ? -errno : 0;
    }

    /* Create and enter one component at a time, never through a link. */
    cs_autofree char *copy = strdup(rel);
    if (!copy)
        return -ENOMEM;
    cs_autoclose int current = open_at_root(dir_fd, "", O_RDONLY | O_DIRECTORY);
    if (current < 0)
        return current;
    char *save = NULL;
    for (char *part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
        if (mkdirat(current, part, 0700) < 0 && errno != EEXIST)
            return -errno;
        int next = openat(current, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0)
            return -errno;
        close(current);
        current = next;
    }
    return 0;
}

int cs_app_fs_rm(int dir_fd, const char *rel, bool recursive, bool force)
{
    if (rel[0] == '\0')
        return -EBUSY;
    const char *name;
    cs_autoclose int parent = open_parent(dir_fd, rel, &name);
    if (parent < 0)
        return force && parent == -ENOENT ? 0 : parent;
    struct stat st;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return force && errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(parent, name, 0) < 0 ? -errno : 0;
    if (!recursive)
        return -EISDIR;
    return cs_remove_tree_at(parent, name);
}
