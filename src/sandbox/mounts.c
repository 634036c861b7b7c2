/* The sandbox's file system: a new root that shows only what the app may see. */
#include "sandbox/sandbox.h"

#include "common/cleanup.h"
#include "common/fsutil.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The new root is built here, on a tmpfs, in the sandbox's own mount
 * namespace; the host's /tmp is not changed. Every source was opened before
 * this tmpfs hides the host's /tmp, so sources below /tmp still work. */
#define NEW_ROOT "/tmp"

/* Mount flags that a bind mount inherits from its source and that a
 * remount inside a user namespace must keep, else the kernel rejects it. */
static unsigned long locked_flags(const char *path)
{
    struct statvfs sv;
    unsigned long flags = 0;
    if (statvfs(path, &sv) < 0)
        return 0;
    if (sv.f_flag & ST_NOSUID)
        flags |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV)
        flags |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC)
        flags |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME)
        flags |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME)
        flags |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME)
        flags |= MS_RELATIME;
    if (sv.f_flag & ST_RDONLY)
        flags |= MS_RDONLY;
    return flags;
}

/* Create the mount point target (a folder, or an empty file when the source
 * is not a folder) with its parents. */
static int make_mount_point(const char *target, bool directory, cs_error *err)
{
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", target);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        int rc = cs_mkdir_p(parent, 0755, err);
        if (rc < 0)
            return rc;
    }
    if (directory) {
        if (mkdir(target, 0755) < 0 && errno != EEXIST)
            return cs_error_errno(err, errno, "cannot create mount point %s", target);
        return 0;
    }
    int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return cs_error_errno(err, errno, "cannot create mount point %s", target);
    close(fd);
    return 0;
}

/* Bind the already opened source (an O_PATH descriptor) at target inside the
 * new root, read-only unless writable, never with setuid or device files. */
static int bind_fd(int source_fd, const char *what, const char *target, bool writable,
                   unsigned long extra, cs_error *err)
{
    char source[64];
    snprintf(source, sizeof(source), "/proc/self/fd/%d", source_fd);
    struct stat st;
    if (fstat(source_fd, &st) < 0)
        return cs_error_errno(err, errno, "cannot stat %s", what);
    char full[PATH_MAX];
    snprintf(full, sizeof(full), "%s%s", NEW_ROOT, target);
    int rc = make_mount_point(full, S_ISDIR(st.st_mode), err);
    if (rc < 0)
        return rc;
    if (mount(source, full, NULL, MS_BIND | MS_REC, NULL) < 0)
        return cs_error_errno(err, errno, "cannot bind %s at %s", what, target);
    unsigned long flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | extra | locked_flags(full);
    if (writable)
        flags &= ~(unsigned long)MS_RDONLY;
    else
        flags |= MS_RDONLY;
    if (mount(NULL, full, NULL, flags, NULL) < 0)
        return cs_error_errno(err, errno, "cannot make %s %s at %s", what,
                              writable ? "writable" : "read-only", target);
    return 0;
}

static int open_source(const char *path, bool optional, cs_error *err)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0 && !(optional && errno == ENOENT))
        return cs_error_errno(err, errno, "cannot open %s for the sandbox", path);
    return fd < 0 ? -ENOENT : fd;
}

static int write_text(const char *path, const char *text, cs_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return cs_error_errno(err, errno, "cannot create %s", path);
    int rc = cs_write_all(fd, text, strlen(text));
    close(fd);
    return rc < 0 ? cs_error_errno(err, -rc, "cannot write %s", path) : 0;
}

/* Recreate the top-level links of a merged-/usr system (/bin -> usr/bin, ...)
 * and bind the folders of a system that is not merged. */
static int link_top_level(const char *name, cs_error *err)
{
    char host[64], inside[64], target[PATH_MAX];
    snprintf(host, sizeof(host), "/%s", name);
    snprintf(inside, sizeof(inside), "%s/%s", NEW_ROOT, name);
    ssize_t n = readlink(host, target, sizeof(target) - 1);
    if (n > 0) {
        target[n] = '\0';
        if (symlink(target, inside) < 0)
            return cs_error_errno(err, errno, "cannot create link %s", host);
        return 0;
    }
    struct stat st;
    if (lstat(host, &st) < 0 || !S_ISDIR(st.st_mode))
        return 0;
    cs_autoclose int fd = open_source(host, false, err);
    if (fd < 0)
        return fd;
    return bind_fd(fd, host, host, false, 0, err);
}

static int setup_dev(cs_error *err)
{
    static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty", NULL};
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/dev", NEW_ROOT);
    if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k") < 0)
        return cs_error_errno(err, errno, "cannot mount /dev");
    for (const char *const *node = nodes; *node; node++) {
        char host[64];
        snprintf(host, sizeof(host), "/dev/%s", *node);
        int fd = open(host, O_PATH | O_CLOEXEC);
        if (fd < 0)
            continue; /* /dev/tty is absent without a controlling terminal */
        snprintf(path, sizeof(path), "/dev/%s", *node);
        /* Device nodes need MS_NODEV cleared, which bind_fd never does; bind
         * them here with only nosuid and noexec. */
        char full[PATH_MAX], source[64];
        snprintf(full, sizeof(full), "%s%s", NEW_ROOT, path);
        snprintf(source, sizeof(source), "/proc/self/fd/%d", fd);
        int rc = make_mount_point(full, false, err);
        if (rc == 0 && mount(source, full, NULL, MS_BIND, NULL) < 0)
            rc = cs_error_errno(err, errno, "cannot bind %s", host);
        close(fd);
        if (rc < 0)
            return rc;
    }
    static const char *const links[][2] = {
        {"fd", "/proc/self/fd"},
        {"stdin", "/proc/self/fd/0"},
        {"stdout", "/proc/self/fd/1"},
        {"stderr", "/proc/self/fd/2"},
    };
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        snprintf(path, sizeof(path), "%s/dev/%s", NEW_ROOT, links[i][0]);
        if (symlink(links[i][1], path) < 0)
            return cs_error_errno(err, errno, "cannot create /dev/%s", links[i][0]);
    }
    snprintf(path, sizeof(path), "%s/dev", NEW_ROOT);
    if (mount(NULL, path, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL) < 0)
        return cs_error_errno(err, errno, "cannot make /dev read-only");
    return 0;
}

/* Open a granted path without following any symbolic link. Policy decided
 * on the resolved path, so a link in it now means that the path changed
 * after the decision, and the grant is not mounted. */
static int open_grant(const char *path, cs_error *err)
{
    if (path[0] != '/')
        return cs_error_set(err, EINVAL, "granted path %s is not absolute", path);
    if (path[1] == '\0')
        return open_source(path, false, err);
    cs_autoclose int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return cs_error_errno(err, errno, "cannot open / for the sandbox");
    int fd = cs_open_beneath(root, path + 1, O_PATH, 0);
    if (fd == -ELOOP || fd == -EXDEV)
        return cs_error_set(err, -fd,
                            "granted path %s now contains a symbolic link, so it changed after "
                            "policy resolved it; not starting the app",
                            path);
    if (fd < 0)
        return cs_error_set(err, -fd, "cannot open the granted path %s for the sandbox: %s", path,
                            strerror(-fd));
    return fd;
}

int cs_sandbox_open_sources(const cs_sandbox_config *config, cs_sandbox_sources *sources,
                            cs_error *err)
{
    sources->usr = sources->ld_cache = sources->host = sources->app = sources->data = -1;
    sources->ngrants = 0;
    if (config->ngrants > CS_SANDBOX_MAX_GRANTS)
        return cs_error_set(err, E2BIG, "more than %d granted paths", CS_SANDBOX_MAX_GRANTS);
    int rc;
    if ((rc = sources->usr = open_source("/usr", false, err)) < 0 ||
        (rc = sources->host = open_source(config->host_binary, false, err)) < 0 ||
        (rc = sources->app = open_source(config->app_dir, false, err)) < 0 ||
        (rc = sources->data = open_source(config->data_dir, false, err)) < 0)
        goto fail;
    sources->ld_cache = open_source("/etc/ld.so.cache", true, err);
    if (sources->ld_cache < 0 && sources->ld_cache != -ENOENT) {
        rc = sources->ld_cache;
        goto fail;
    }
    for (size_t i = 0; i < config->ngrants; i++) {
        rc = open_grant(config->grants[i].path, err);
        if (rc < 0)
            goto fail;
        sources->grants[sources->ngrants++] = rc;
    }
    return 0;
fail:
    cs_sandbox_close_sources(sources);
    return rc;
}

void cs_sandbox_close_sources(cs_sandbox_sources *sources)
{
    int *fds[] = {&sources->usr, &sources->ld_cache, &sources->host, &sources->app, &sources->data};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
    for (size_t i = 0; i < sources->ngrants; i++)
        close(sources->grants[i]);
    sources->ngrants = 0;
}

int cs_sandbox_setup_mounts(const cs_sandbox_config *config, const cs_sandbox_sources *src,
                            cs_error *err)
{
    int rc;
    /* Nothing mounted from here on may propagate back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return cs_error_errno(err, errno, "cannot make the mounts private");
    int usr = src->usr, ld_cache = src->ld_cache, host = src->host, app = src->app,
        data = src->data;
    const int *grant_fds = src->grants;

    if (mount("tmpfs", NEW_ROOT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") < 0)
        return cs_error_errno(err, errno, "cannot mount the new root");

    static const char *const folders[] = {"etc", "proc", "dev", "run", "tmp", NULL};
    for (const char *const *f = folders; *f; f++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", NEW_ROOT, *f);
        if (mkdir(path, 0755) < 0)
            return cs_error_errno(err, errno, "cannot create /%s in the new root", *f);
    }

    /* The private /tmp comes before the grants, so a grant below /tmp stays
     * visible. */
    char tmp_options[64];
    snprintf(tmp_options, sizeof(tmp_options), "mode=1777,size=%llu",
             (unsigned long long)CS_SANDBOX_TMP_SIZE);
    if (mount("tmpfs", NEW_ROOT "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, tmp_options) < 0)
        return cs_error_errno(err, errno, "cannot mount the private /tmp");

    if ((rc = bind_fd(usr, "/usr", "/usr", false, 0, err)) < 0)
        return rc;
    static const char *const top[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", NULL};
    for (const char *const *t = top; *t; t++)
        if ((rc = link_top_level(*t, err)) < 0)
            return rc;
    if (ld_cache >= 0 &&
        (rc = bind_fd(ld_cache, "/etc/ld.so.cache", "/etc/ld.so.cache", false, 0, err)) < 0)
        return rc;
    char text[256];
    snprintf(text, sizeof(text), "app:x:%d:%d:app:%s:/usr/sbin/nologin\n", CS_SANDBOX_APP_UID,
             CS_SANDBOX_APP_GID, CS_SANDBOX_DATA_DIR);
    if ((rc = write_text(NEW_ROOT "/etc/passwd", text, err)) < 0)
        return rc;
    snprintf(text, sizeof(text), "app:x:%d:\n", CS_SANDBOX_APP_GID);
    if ((rc = write_text(NEW_ROOT "/etc/group", text, err)) < 0)
        return rc;

    if ((rc = bind_fd(host, config->host_binary, CS_SANDBOX_RUNTIME_DIR "/cashstory-app", false, 0,
                      err)) < 0 ||
        (rc = bind_fd(app, "the app folder", CS_SANDBOX_APP_DIR, false, MS_NOEXEC, err)) < 0 ||
        (rc = bind_fd(data, "the data folder", CS_SANDBOX_DATA_DIR, true, MS_NOEXEC, err)) < 0)
        return rc;
    for (size_t i = 0; i < config->ngrants; i++) {
        rc = bind_fd(grant_fds[i], config->grants[i].path, config->grants[i].path,
                     config->grants[i].writable, MS_NOEXEC, err);
        if (rc < 0)
            return rc;
    }

    if (mount("proc", NEW_ROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        return cs_error_errno(err, errno,
                              "cannot mount /proc for the pid namespace (the host's /proc may "
                              "have paths masked by a container runtime)");
    if ((rc = setup_dev(err)) < 0)
        return rc;

    /* Switch to the new root and detach the old one entirely. */
    if (chdir(NEW_ROOT) < 0)
        return cs_error_errno(err, errno, "cannot enter the new root");
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return cs_error_errno(err, errno, "pivot_root failed");
    if (umount2(".", MNT_DETACH) < 0)
        return cs_error_errno(err, errno, "cannot detach the host's root");
    if (chdir("/") < 0)
        return cs_error_errno(err, errno, "cannot enter /");
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
        return cs_error_errno(err, errno, "cannot make the new root read-only");
    return 0;
}
