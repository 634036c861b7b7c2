#include "sandbox/sandbox.h"

#include "common/cleanup.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct child_context {
    const cs_sandbox_config *config;
    const cs_sandbox_limit_state *limits;
    int go_fd;    /* read end: the parent writes one byte when maps and limits are set */
    int error_fd; /* write end: setup errors go to the parent; closed when setup is done */
} child_context;

enum { STACK_SIZE = 1024 * 1024 };

static volatile sig_atomic_t forwarded_pid;

/* When cs_sandbox_run started, for the times in the verbose log. */
static struct timespec run_start;

static void forward_signal(int sig)
{
    if (forwarded_pid > 0)
        kill((pid_t)forwarded_pid, sig);
}

void cs_sandbox_host_ids(const char *app_id, uid_t *uid, gid_t *gid)
{
    if (geteuid() != 0) {
        *uid = geteuid();
        *gid = getegid();
        return;
    }
    /* FNV-1a of the app id picks a stable id in the reserved range. */
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)app_id; *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    *uid = (uid_t)(CS_SANDBOX_HOST_UID_BASE + h % CS_SANDBOX_HOST_UID_RANGE);
    *gid = (gid_t)*uid;
}

static void log_step(const cs_sandbox_config *config, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void log_step(const cs_sandbox_config *config, const char *fmt, ...)
{
    if (!config->verbose)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double ms = (double)(now.tv_sec - run_start.tv_sec) * 1e3 +
                (double)(now.tv_nsec - run_start.tv_nsec) / 1e6;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "[%8.1f ms] sandbox %s: %s\n", ms, config->app_id, line);
}

/* Report a setup error to the parent and end the child. */
static __attribute__((noreturn)) void child_fail(child_context *ctx, const cs_error *err)
{
    const char *msg = err->message[0] ? err->message : "sandbox setup failed";
    if (write(ctx->error_fd, msg, strlen(msg)) < 0) {
        /* Nothing else can report it. */
    }
    _exit(127);
}

static int raise_effective_caps(cs_error *err)
{
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &header, data) < 0)
        return cs_error_errno(err, errno, "capget failed");
    data[0].effective = data[0].permitted;
    data[1].effective = data[1].permitted;
    if (syscall(SYS_capset, &header, data) < 0)
        return cs_error_errno(err, errno, "capset failed");
    return 0;
}

/* Become the app user while keeping the capabilities of the new user
 * namespace, so that files the setup creates belong to a mapped id. */
static int become_app_user(cs_error *err)
{
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        return cs_error_errno(err, errno, "cannot keep capabilities across the user change");
    if (setresgid(CS_SANDBOX_APP_GID, CS_SANDBOX_APP_GID, CS_SANDBOX_APP_GID) < 0)
        return cs_error_errno(err, errno, "cannot switch to the app group %d", CS_SANDBOX_APP_GID);
    if (setresuid(CS_SANDBOX_APP_UID, CS_SANDBOX_APP_UID, CS_SANDBOX_APP_UID) < 0)
        return cs_error_errno(err, errno, "cannot switch to the app user %d", CS_SANDBOX_APP_UID);
    return raise_effective_caps(err);
}

/* PID 1 of the sandbox: start the app host, forward termination signals to
 * it, reap every process, and leave with the host's status once it ends. */
/* Resident memory of the app's processes, from the sandbox's own /proc. Init
 * itself (pid 1) is left out: it is a copy of the launcher or the daemon, and
 * its pages are not the app's. */
static uint64_t sandbox_rss(void)
{
    uint64_t total = 0;
    long page = sysconf(_SC_PAGESIZE);
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9' || strcmp(de->d_name, "1") == 0)
            continue;
        char path[64], text[128];
        snprintf(path, sizeof(path), "/proc/%s/statm", de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, text, sizeof(text) - 1);
        close(fd);
        if (n <= 0)
            continue;
        text[n] = '\0';
        unsigned long long size, resident;
        if (sscanf(text, "%llu %llu", &size, &resident) == 2)
            total += resident * (uint64_t)page;
    }
    if (d)
        closedir(d);
    return total;
}

static __attribute__((noreturn)) void run_init(const cs_sandbox_config *config,
                                               uint64_t watch_memory)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);

    /* When the launcher or the daemon dies, the sandbox dies with it, so no
     * sandbox outlives its supervisor. Set here because a change of
     * credentials clears it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);

    pid_t host = fork();
    if (host < 0) {
        perror("cashstory sandbox: cannot start the app host");
        _exit(127);
    }
    if (host == 0) {
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        size_t n = 0;
        while (config->host_argv && config->host_argv[n])
            n++;
        const char **argv = calloc(n + 2, sizeof(*argv));
        if (!argv)
            _exit(127);
        argv[0] = "cashstory-app";
        for (size_t i = 0; i < n; i++)
            argv[i + 1] = config->host_argv[i];
        char *envp[8] = {
            "PATH=/usr/bin:/bin", "HOME=" CS_SANDBOX_DATA_DIR, "TMPDIR=/tmp", "LANG=C.UTF-8", NULL,
        };
#ifdef CS_SANITIZER_BUILD
        /* LeakSanitizer stops the process with ptrace, which the seccomp
         * filter denies, so sanitizer builds check for leaks outside only. */
        static char asan[1024], ubsan[1024];
        const char *a = getenv("ASAN_OPTIONS"), *u = getenv("UBSAN_OPTIONS");
        snprintf(asan, sizeof(asan), "ASAN_OPTIONS=%s%sdetect_leaks=0", a ? a : "",
                 a && *a ? ":" : "");
        snprintf(ubsan, sizeof(ubsan), "UBSAN_OPTIONS=%s", u ? u : "");
        envp[4] = asan;
        envp[5] = ubsan;
#endif
        execve(CS_SANDBOX_RUNTIME_DIR "/cashstory-app", (char *const *)argv, envp);
        fprintf(stderr, "cashstory sandbox: cannot start the app host: %s\n", strerror(errno));
        _exit(127);
    }

    int status = 1;
    for (;;) {
        siginfo_t info;
        /* Without a memory cgroup, init polls the sandbox's resident memory
         * and ends the app when it exceeds the limit. */
        struct timespec poll = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};
        int sig = watch_memory ? sigtimedwait(&set, &info, &poll) : sigwaitinfo(&set, &info);
        if (sig < 0 && watch_memory && errno == EAGAIN) {
            uint64_t rss = sandbox_rss();
            if (rss > watch_memory) {
                fprintf(stderr,
                        "cashstory sandbox %s: memory limit exceeded (%llu MiB resident, limit "
                        "%llu MiB); stopping the app\n",
                        config->app_id, (unsigned long long)(rss >> 20),
                        (unsigned long long)(watch_memory >> 20));
                kill(-1, SIGKILL);
                while (waitpid(-1, NULL, 0) > 0)
                    ;
                _exit(128 + SIGKILL);
            }
            continue;
        }
        if (sig < 0)
            continue;
        if (sig != SIGCHLD) {
            kill(host, sig);
            continue;
        }
        int ws;
        pid_t pid;
        bool host_done = false;
        while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
            if (pid != host)
                continue;
            host_done = true;
            status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
        }
        if (host_done) {
            /* Processes the app left behind end with it. */
            kill(-1, SIGKILL);
            while (waitpid(-1, NULL, 0) > 0)
                ;
            _exit(status);
        }
    }
}

static int child_main(void *arg)
{
    child_context *ctx = arg;
    const cs_sandbox_config *config = ctx->config;
    cs_error err = {0};

    if ((config->stdout_fd >= 0 && dup2(config->stdout_fd, 1) < 0) ||
        (config->stderr_fd >= 0 && dup2(config->stderr_fd, 2) < 0)) {
        cs_error_errno(&err, errno, "cannot set the app's standard output");
        child_fail(ctx, &err);
    }

    /* Keep the bus socket out of the way of the descriptor numbers the
     * setup opens; it moves to CS_SANDBOX_BUS_FD at the end. */
    int bus = -1;
    if (config->bus_fd >= 0 && (bus = fcntl(config->bus_fd, F_DUPFD_CLOEXEC, 100)) < 0) {
        cs_error_errno(&err, errno, "cannot keep the bus socket");
        child_fail(ctx, &err);
    }

    /* The parent applies the limits after the clone, so this copy of its
     * memory does not know which ones a cgroup enforces; it sends them. */
    char go[3];
    if (read(ctx->go_fd, go, sizeof(go)) != sizeof(go)) {
        cs_error_set(&err, EPIPE, "the launcher did not finish the user namespace setup");
        child_fail(ctx, &err);
    }
    close(ctx->go_fd);
    cs_sandbox_limit_state limits = *ctx->limits;
    limits.memory_done = go[0] == '1';
    limits.pids_done = go[1] == '1';
    limits.cpu_done = go[2] == '1';

    /* Open what the new root shows while this process still has the
     * launcher's file-system identity, so the app user needs no search
     * permission on the folders above them (a store in a private folder). */
    cs_sandbox_sources sources;
    if (cs_sandbox_open_sources(config, &sources, &err) < 0)
        child_fail(ctx, &err);
    if (become_app_user(&err) < 0)
        child_fail(ctx, &err);
    log_step(config, "user namespace: app user %d", CS_SANDBOX_APP_UID);
    if (cs_sandbox_setup_mounts(config, &sources, &err) < 0)
        child_fail(ctx, &err);
    cs_sandbox_close_sources(&sources);
    log_step(config, "file system: new root with /app read-only and /data read-write");
    if (sethostname("cashstory", 9) < 0) {
        cs_error_errno(&err, errno, "cannot set the host name in the uts namespace");
        child_fail(ctx, &err);
    }
    if (cs_sandbox_bring_up_loopback(&err) < 0)
        child_fail(ctx, &err);
    if (cs_sandbox_limits_rlimits(config, &limits, &err) < 0)
        child_fail(ctx, &err);
    if (cs_sandbox_drop_privileges(&err) < 0)
        child_fail(ctx, &err);
    log_step(config, "privileges: all capabilities dropped, no_new_privs set");
    if (cs_sandbox_setup_landlock(config, config->verbose, &err) < 0)
        child_fail(ctx, &err);
    if (cs_sandbox_setup_seccomp(&err) < 0)
        child_fail(ctx, &err);
    log_step(config, "seccomp: allow-list installed");

    /* The error pipe is closed here, which signals to the parent that the
     * setup succeeded; it must not be inherited by the app. */
    int keep[64];
    size_t nkeep = 0;
    if (bus >= 0) {
        if (dup2(bus, CS_SANDBOX_BUS_FD) < 0) {
            cs_error_errno(&err, errno, "cannot pass the bus socket");
            child_fail(ctx, &err);
        }
        keep[nkeep++] = CS_SANDBOX_BUS_FD;
    }
    for (size_t i = 0; i < config->nkeep_fds && nkeep < 64; i++)
        keep[nkeep++] = config->keep_fds[i];
    if (cs_sandbox_close_fds(keep, nkeep, &err) < 0)
        child_fail(ctx, &err);
    run_init(config, limits.memory_done ? 0 : config->limits.memory_bytes);
}

static int write_file(pid_t pid, const char *name, const char *text, cs_error *err)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
    cs_autoclose int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        return cs_error_errno(err, errno, "cannot write %s", path);
    return 0;
}

static int write_id_maps(pid_t pid, const char *app_id, cs_error *err)
{
    uid_t uid;
    gid_t gid;
    cs_sandbox_host_ids(app_id, &uid, &gid);
    char map[64];
    snprintf(map, sizeof(map), "%d %u 1\n", CS_SANDBOX_APP_UID, (unsigned)uid);
    int rc = write_file(pid, "uid_map", map, err);
    if (rc < 0)
        return rc;
    rc = write_file(pid, "setgroups", "deny", err);
    if (rc < 0)
        return rc;
    snprintf(map, sizeof(map), "%d %u 1\n", CS_SANDBOX_APP_GID, (unsigned)gid);
    return write_file(pid, "gid_map", map, err);
}

static const char *namespace_help(int errnum)
{
    if (errnum == EPERM || errnum == ENOSPC || errnum == EINVAL)
        return "the kernel refused to create user namespaces; enable them with "
               "'sysctl kernel.unprivileged_userns_clone=1' (Debian) or raise "
               "user.max_user_namespaces, and check that no seccomp or AppArmor "
               "profile of the caller forbids them";
    return "check the kernel's namespace support (CONFIG_USER_NS, CONFIG_PID_NS, CONFIG_NET_NS)";
}

int cs_sandbox_status(int ws)
{
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

int cs_sandbox_spawn(const cs_sandbox_config *config, cs_sandbox *sandbox, cs_error *err)
{
    memset(sandbox, 0, sizeof(*sandbox));
    if (config->log_start)
        run_start = *config->log_start;
    else
        clock_gettime(CLOCK_MONOTONIC, &run_start);
    cs_sandbox_limit_state *limits = calloc(1, sizeof(*limits));
    cs_autofree char *stack = malloc(STACK_SIZE);
    if (!limits || !stack) {
        free(limits);
        return cs_error_set(err, ENOMEM, "out of memory");
    }
    int go[2], errors[2];
    if (pipe2(go, O_CLOEXEC) < 0) {
        free(limits);
        return cs_error_errno(err, errno, "cannot create the sandbox pipes");
    }
    if (pipe2(errors, O_CLOEXEC) < 0) {
        close(go[0]);
        close(go[1]);
        free(limits);
        return cs_error_errno(err, errno, "cannot create the sandbox pipes");
    }
    child_context ctx = {.config = config, .limits = limits, .go_fd = go[0], .error_fd = errors[1]};

    int flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
                CLONE_NEWNET | CLONE_NEWCGROUP | SIGCHLD;
    fflush(stdout);
    fflush(stderr);
    pid_t child = clone(child_main, stack + STACK_SIZE, flags, &ctx);
    int clone_errno = errno;
    close(go[0]);
    close(errors[1]);
    if (child < 0) {
        close(go[1]);
        close(errors[0]);
        free(limits);
        return cs_error_set(err, clone_errno,
                            "cannot create the sandbox namespaces (user, mount, pid, ipc, uts, "
                            "cgroup, network): %s; %s",
                            strerror(clone_errno), namespace_help(clone_errno));
    }
    log_step(config, "namespaces: user, mount, pid, ipc, uts, cgroup and network created");

    int rc = write_id_maps(child, config->app_id, err);
    if (rc == 0)
        rc = cs_sandbox_limits_apply(config, child, limits, err);
    if (rc == 0) {
        log_step(config, "limits: %s", limits->report);
        char done[3] = {limits->memory_done ? '1' : '0', limits->pids_done ? '1' : '0',
                        limits->cpu_done ? '1' : '0'};
        if (write(go[1], done, sizeof(done)) != (ssize_t)sizeof(done))
            rc = cs_error_errno(err, errno, "cannot start the sandbox");
    }
    close(go[1]);
    if (rc < 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        close(errors[0]);
        cs_sandbox_limits_cleanup(limits);
        free(limits);
        return rc;
    }

    /* Read setup errors until the child closes its end. */
    char message[sizeof(err->message)];
    size_t used = 0;
    for (;;) {
        ssize_t n = read(errors[0], message + used, sizeof(message) - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
        if (used == sizeof(message) - 1)
            break;
    }
    message[used] = '\0';
    close(errors[0]);
    if (used > 0) {
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
            ;
        cs_sandbox_limits_cleanup(limits);
        free(limits);
        return cs_error_set(err, EPERM, "sandbox setup failed: %s", message);
    }
    sandbox->pid = child;
    sandbox->limits = limits;
    return 0;
}

void cs_sandbox_release(cs_sandbox *sandbox)
{
    if (sandbox->limits) {
        cs_sandbox_limits_cleanup(sandbox->limits);
        free(sandbox->limits);
        sandbox->limits = NULL;
    }
}

int cs_sandbox_run(const cs_sandbox_config *config, int *status, cs_error *err)
{
    cs_sandbox sandbox;
    int rc = cs_sandbox_spawn(config, &sandbox, err);
    if (rc < 0)
        return rc;

    struct sigaction sa = {.sa_handler = forward_signal}, old_int, old_term, old_hup;
    sigemptyset(&sa.sa_mask);
    forwarded_pid = sandbox.pid;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);

    int ws = 0;
    while (waitpid(sandbox.pid, &ws, 0) < 0 && errno == EINTR)
        ;
    forwarded_pid = 0;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    cs_sandbox_release(&sandbox);
    *status = cs_sandbox_status(ws);
    return 0;
}
