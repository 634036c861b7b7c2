#include "common/fsutil.h"

#include "common/cleanup.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int cs_read_file_at(int dirfd, const char *path, size_t max, bool nofollow, uint8_t **out,
                    size_t *len, cs_error *err)
{
    int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (nofollow ? O_NOFOLLOW : 0);
    cs_autoclose int fd = openat(dirfd, path, flags);
    if (fd < 0) {
        if (errno == ELOOP && nofollow)
            return cs_error_set(err, ELOOP, "%s: is a symbolic link", path);
        return cs_error_errno(err, errno, "cannot open %s", path);
    }
    return cs_read_fd(fd, path, max, out, len, err);
}

int cs_read_fd(int fd, const char *path, size_t max, uint8_t **out, size_t *len, cs_error *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return cs_error_errno(err, errno, "cannot stat %s", path);
    if (!S_ISREG(st.st_mode))
        return cs_error_set(err, EINVAL, "%s: not a regular file", path);
    if ((uint64_t)st.st_size > max)
        return cs_error_set(err, EFBIG, "%s: file is %lld bytes, the limit is %zu bytes", path,
                            (long long)st.st_size, max);

    size_t cap = (size_t)st.st_size + 1;
    cs_autofree uint8_t *buf = malloc(cap);
    if (!buf)
        return cs_error_set(err, ENOMEM, "%s: out of memory", path);
    size_t used = 0;
    for (;;) {
        if (used + 1 >= cap) {
            /* The file grew after fstat; keep reading up to max. */
            if (cap > max + 1)
                return cs_error_set(err, EFBIG, "%s: file exceeds the limit of %zu bytes", path,
                                    max);
            size_t ncap = cap * 2 < max + 2 ? cap * 2 : max + 2;
            uint8_t *nbuf = realloc(buf, ncap);
            if (!nbuf)
                return cs_error_set(err, ENOMEM, "%s: out of memory", path);
            buf = nbuf;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + used, cap - 1 - used);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return cs_error_errno(err, errno, "cannot read %s", path);
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    if (used > max)
        return cs_error_set(err, EFBIG, "%s: file exceeds the limit of %zu bytes", path, max);
    buf[used] = '\0';
    *out = cs_steal(&buf);
    *len = used;
    return 0;
}

int cs_write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

char *cs_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

int cs_fsync_dir(const char *path)
{
    cs_autoclose int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        return -errno;
    return 0;
}

int cs_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, cs_error *err)
{
    size_t tmplen = strlen(path) + 16;
    cs_autofree char *tmp = malloc(tmplen);
    if (!tmp)
        return cs_error_set(err, ENOMEM, "out of memory");
    snprintf(tmp, tmplen, "%s.tmp-XXXXXX", path);
    cs_autoclose int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return cs_error_errno(err, errno, "cannot create a temporary file next to %s", path);

    int rc = cs_write_all(fd, data, len);
    if (rc == 0 && fchmod(fd, mode) < 0)
        rc = -errno;
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        return cs_error_errno(err, -rc, "cannot write %s", path);
    }
    cs_autofree char *dir = cs_dirname(path);
    if (dir)
        cs_fsync_dir(dir);
    return 0;
}

int cs_write_file_exclusive(const char *path, const void *data, size_t len, mode_t mode,
                            cs_error *err)
{
    cs_autoclose int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        if (errno == EEXIST)
            return cs_error_set(err, EEXIST, "%s already exists; remove it or choose another name",
                                path);
        return cs_error_errno(err, errno, "cannot create %s", path);
    }
    int rc = cs_write_all(fd, data, len);
    if (rc == 0 && fchmod(fd, mode) < 0)
        rc = -errno;
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (rc < 0) {
        unlink(path);
        return cs_error_errno(err, -rc, "cannot write %s", path);
    }
    return 0;
}

static int open_beneath_walk(int dirfd, const char *rel, int flags, mode_t mode)
{
    cs_autofree char *copy = strdup(rel);
    if (!copy)
        return -ENOMEM;
    int cur = dup(dirfd);
    if (cur < 0)
        return -errno;
    char *save = NULL;
    char *part = strtok_r(copy, "/", &save);
    while (part) {
        char *next = strtok_r(NULL, "/", &save);
        if (strcmp(part, "..") == 0 || strcmp(part, ".") == 0) {
            close(cur);
            return -EXDEV;
        }
        int fd;
        if (next)
            fd = openat(cur, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        else
            fd = openat(cur, part, flags | O_NOFOLLOW | O_CLOEXEC, mode);
        int saved = errno;
        close(cur);
        if (fd < 0)
            return -saved;
        cur = fd;
        part = next;
    }
    return cur;
}

int cs_open_beneath(int dirfd, const char *rel, int flags, mode_t mode)
{
    static _Atomic int have_openat2 = 1;
    if (have_openat2) {
        struct open_how how = {
            .flags = (uint64_t)(flags | O_CLOEXEC),
            .mode = (flags & O_CREAT) ? mode : 0,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
        if (fd >= 0)
            return (int)fd;
        if (errno != ENOSYS && errno != EPERM)
            return -errno;
        /* Kernels before 5.6 and some seccomp filters reject openat2. */
        have_openat2 = 0;
    }
    return open_beneath_walk(dirfd, rel, flags, mode);
}

int cs_mkdir_p(const char *path, mode_t mode, cs_error *err)
{
    cs_autofree char *copy = strdup(path);
    if (!copy)
        return cs_error_set(err, ENOMEM, "out of memory");
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, mode) < 0 && errno != EEXIST)
            return cs_error_errno(err, errno, "cannot create folder %s", copy);
        *p = '/';
    }
    if (mkdir(copy, mode) < 0 && errno != EEXIST)
        return cs_error_errno(err, errno, "cannot create folder %s", copy);
    return 0;
}

int cs_remove_tree_at(int parent_fd, const char *name)
{
    struct stat st;
    if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(parent_fd, name, 0) < 0 ? -errno : 0;

    fchmodat(parent_fd, name, 0700, 0);
    int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int saved = errno;
        close(fd);
        return -saved;
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        int r = cs_remove_tree_at(dirfd(d), de->d_name);
        if (r < 0 && rc == 0)
            rc = r;
    }
    closedir(d);
    if (unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && rc == 0)
        rc = -errno;
    return rc;
}
