/* Resource limits: cgroup v2 where its controllers are available, cgroup v1
 * where only that is mounted; otherwise RLIMIT_NPROC for processes and a
 * watchdog in the sandbox's init for memory. */
#include "sandbox/sandbox.h"

#include "common/fsutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define CGROUP2_SUPER_MAGIC 0x63677270

static int write_value(const char *dir, const char *file, const char *value)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = cs_write_all(fd, value, strlen(value));
    close(fd);
    return rc;
}

static bool read_value(const char *path, char *out, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, out, size - 1);
    close(fd);
    if (n < 0)
        return false;
    out[n] = '\0';
    return true;
}

/* Path of this process's cgroup for the hierarchy named by controller
 * ("" for the cgroup v2 entry "0::"), from /proc/self/cgroup. */
static bool own_cgroup(const char *controller, char *out, size_t size)
{
    char text[4096];
    if (!read_value("/proc/self/cgroup", text, sizeof(text)))
        return false;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *first = strchr(line, ':');
        char *second = first ? strchr(first + 1, ':') : NULL;
        if (!second)
            continue;
        *second = '\0';
        const char *names = first + 1;
        bool match = *controller ? false : *names == '\0';
        for (char *p = (char *)names; *controller && p && *p;) {
            size_t n = strcspn(p, ",");
            if (n == strlen(controller) && strncmp(p, controller, n) == 0)
                match = true;
            p = p[n] ? p + n + 1 : NULL;
        }
        if (match) {
            snprintf(out, size, "%s", second + 1);
            return true;
        }
    }
    return false;
}

static bool is_cgroup2(const char *path)
{
    struct statfs sf;
    return statfs(path, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

/* Add "what: mechanism" to the report of which mechanism enforced what. */
static void append(cs_sandbox_limit_state *s, const char *what, const char *mechanism)
{
    size_t used = strlen(s->report);
    snprintf(s->report + used, sizeof(s->report) - used, "%s%s: %s", used ? "; " : "", what,
             mechanism);
}

static void try_cgroup_v2(const cs_sandbox_config *c, pid_t child, cs_sandbox_limit_state *s)
{
    const char *mount_point = NULL;
    if (is_cgroup2("/sys/fs/cgroup"))
        mount_point = "/sys/fs/cgroup";
    else if (is_cgroup2("/sys/fs/cgroup/unified"))
        mount_point = "/sys/fs/cgroup/unified";
    char own[512];
    if (!mount_point || !own_cgroup("", own, sizeof(own)))
        return;
    char parent[1024], dir[1024], controllers[512] = "";
    snprintf(parent, sizeof(parent), "%s%s", mount_point, strcmp(own, "/") == 0 ? "" : own);
    snprintf(dir, sizeof(dir), "%s/cashstory-%s-%d", parent, c->app_id, (int)child);
    if (mkdir(dir, 0755) < 0)
        return;
    snprintf(s->cgroup_v2, sizeof(s->cgroup_v2), "%s", dir);

    /* Enable the controllers for the new group where the parent allows it. */
    write_value(parent, "cgroup.subtree_control", "+memory");
    write_value(parent, "cgroup.subtree_control", "+pids");
    write_value(parent, "cgroup.subtree_control", "+cpu");
    char path[1100];
    snprintf(path, sizeof(path), "%s/cgroup.controllers", dir);
    read_value(path, controllers, sizeof(controllers));

    char value[64];
    if (c->limits.memory_bytes && strstr(controllers, "memory")) {
        snprintf(value, sizeof(value), "%llu", (unsigned long long)c->limits.memory_bytes);
        s->memory_done = write_value(dir, "memory.max", value) == 0 &&
                         write_value(dir, "memory.swap.max", "0") >= -ENOENT;
    }
    if (c->limits.max_pids && strstr(controllers, "pids")) {
        snprintf(value, sizeof(value), "%llu", (unsigned long long)c->limits.max_pids);
        s->pids_done = write_value(dir, "pids.max", value) == 0;
    }
    if (c->limits.cpu_percent && strstr(controllers, "cpu")) {
        snprintf(value, sizeof(value), "%u 100000", c->limits.cpu_percent * 1000);
        s->cpu_done = write_value(dir, "cpu.max", value) == 0;
    }
    snprintf(value, sizeof(value), "%d", (int)child);
    if ((s->memory_done || s->pids_done || s->cpu_done) &&
        write_value(dir, "cgroup.procs", value) < 0)
        s->memory_done = s->pids_done = s->cpu_done = false;
    if (s->memory_done)
        append(s, "memory", "cgroup v2");
    if (s->pids_done)
        append(s, "processes", "cgroup v2");
    if (s->cpu_done)
        append(s, "cpu", "cgroup v2");
}

/* Create a cgroup v1 group below this process's group of controller, write
 * file = value and move child into it. */
static bool try_cgroup_v1(const cs_sandbox_config *c, pid_t child, const char *controller,
                          const char *file, const char *value, const char *file2,
                          const char *value2, char *dir_out, size_t dir_size)
{
    char root[256], own[512], dir[1024];
    snprintf(root, sizeof(root), "/sys/fs/cgroup/%s", controller);
    struct statfs sf;
    if (statfs(root, &sf) < 0 || is_cgroup2(root) || !own_cgroup(controller, own, sizeof(own)))
        return false;
    snprintf(dir, sizeof(dir), "%s%s/cashstory-%s-%d", root, strcmp(own, "/") == 0 ? "" : own,
             c->app_id, (int)child);
    if (mkdir(dir, 0755) < 0)
        return false;
    snprintf(dir_out, dir_size, "%s", dir);
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", (int)child);
    if (write_value(dir, file, value) < 0 || (file2 && write_value(dir, file2, value2) < 0) ||
        write_value(dir, "cgroup.procs", pid) < 0)
        return false;
    return true;
}

int cs_sandbox_limits_apply(const cs_sandbox_config *c, pid_t child, cs_sandbox_limit_state *s,
                            cs_error *err)
{
    (void)err;
    try_cgroup_v2(c, child, s);

    char value[64];
    if (c->limits.memory_bytes && !s->memory_done) {
        snprintf(value, sizeof(value), "%llu", (unsigned long long)c->limits.memory_bytes);
        s->memory_done = try_cgroup_v1(c, child, "memory", "memory.limit_in_bytes", value, NULL,
                                       NULL, s->cgroup_v1_memory, sizeof(s->cgroup_v1_memory));
        if (s->memory_done)
            append(s, "memory", "cgroup v1");
    }
    if (c->limits.max_pids && !s->pids_done) {
        snprintf(value, sizeof(value), "%llu", (unsigned long long)c->limits.max_pids);
        s->pids_done = try_cgroup_v1(c, child, "pids", "pids.max", value, NULL, NULL,
                                     s->cgroup_v1_pids, sizeof(s->cgroup_v1_pids));
        if (s->pids_done)
            append(s, "processes", "cgroup v1");
    }
    if (c->limits.cpu_percent && !s->cpu_done) {
        snprintf(value, sizeof(value), "%u", c->limits.cpu_percent * 1000);
        s->cpu_done =
            try_cgroup_v1(c, child, "cpu", "cpu.cfs_period_us", "100000", "cpu.cfs_quota_us", value,
                          s->cgroup_v1_cpu, sizeof(s->cgroup_v1_cpu));
        if (s->cpu_done)
            append(s, "cpu", "cgroup v1");
    }
    if (c->limits.memory_bytes && !s->memory_done)
        append(s, "memory", "resident-memory watchdog in the sandbox's init");
    if (c->limits.max_pids && !s->pids_done)
        append(s, "processes", "rlimit RLIMIT_NPROC");
    if (c->limits.cpu_percent && !s->cpu_done)
        append(s, "cpu", "not enforced (no cgroup cpu controller available)");
    if (!s->report[0])
        snprintf(s->report, sizeof(s->report), "none requested");
    return 0;
}

int cs_sandbox_limits_rlimits(const cs_sandbox_config *c, const cs_sandbox_limit_state *s,
                              cs_error *err)
{
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) < 0)
        return cs_error_errno(err, errno, "cannot disable core dumps");
    /* NOTE: memory has no rlimit fallback. JavaScriptCore reserves several
     * GiB of address space up front, which RLIMIT_AS and RLIMIT_DATA count,
     * so either would stop every app; init's watchdog enforces it instead. */
    if (c->limits.max_pids && !s->pids_done) {
        struct rlimit pids = {c->limits.max_pids, c->limits.max_pids};
        if (setrlimit(RLIMIT_NPROC, &pids) < 0)
            return cs_error_errno(err, errno, "cannot set the process rlimit");
    }
    return 0;
}

static int remove_stale_in(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int removed = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "cashstory-", 10) != 0)
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        /* rmdir fails for a group that still has processes. */
        if (rmdir(path) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

int cs_sandbox_limits_remove_stale(void)
{
    int removed = 0;
    char own[512], dir[1024];
    static const char *const controllers[] = {"memory", "pids", "cpu"};
    for (size_t i = 0; i < 3; i++) {
        if (!own_cgroup(controllers[i], own, sizeof(own)))
            continue;
        snprintf(dir, sizeof(dir), "/sys/fs/cgroup/%s%s", controllers[i],
                 strcmp(own, "/") == 0 ? "" : own);
        removed += remove_stale_in(dir);
    }
    if (own_cgroup("", own, sizeof(own))) {
        static const char *const mounts[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
        for (size_t i = 0; i < 2; i++) {
            if (!is_cgroup2(mounts[i]))
                continue;
            snprintf(dir, sizeof(dir), "%s%s", mounts[i], strcmp(own, "/") == 0 ? "" : own);
            removed += remove_stale_in(dir);
        }
    }
    return removed;
}

void cs_sandbox_limits_cleanup(cs_sandbox_limit_state *s)
{
    const char *dirs[] = {s->cgroup_v2, s->cgroup_v1_memory, s->cgroup_v1_pids, s->cgroup_v1_cpu};
    for (size_t i = 0; i < 4; i++) {
        if (!dirs[i][0])
            continue;
        /* The group is empty once the sandbox's init has exited; retry
         * briefly while the kernel finishes releasing it. */
        for (int attempt = 0; attempt < 50 && rmdir(dirs[i]) < 0 && errno == EBUSY; attempt++)
            usleep(2000);
    }
}
