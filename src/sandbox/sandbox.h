/* The app sandbox: one process tree per app, partitioned from the OS and from
 * every other app.
 *
 * cs_sandbox_run clones a child into new user, mount, pid, ipc, uts, cgroup
 * and network namespaces. The parent writes the child's uid and gid maps and
 * applies resource limits, then lets the child continue. The child becomes
 * PID 1 of the new pid namespace and, in this order:
 *   1. builds a new root on a tmpfs: /usr (and the /lib, /bin links) and
 *      /etc/ld.so.cache read-only, the host binary read-only under
 *      /run/cashstory, the app folder read-only at /app, the data folder
 *      read-write at /data, granted paths at their own paths, a private /tmp,
 *      a new /proc and a minimal /dev; then pivot_root into it and detaches
 *      the old root, so nothing else of the host file system is reachable;
 *   2. brings up the loopback interface, the only one in its network namespace;
 *   3. drops every capability from the bounding and ambient sets, switches to
 *      the unprivileged app user, and sets no_new_privs;
 *   4. applies Landlock rules that match the mounts (a second fence);
 *   5. installs the seccomp filter (the last step, so that the setup itself
 *      needs no exceptions in it);
 *   6. closes every file descriptor but 0, 1, 2 and the ones passed on;
 *   7. forks the app host, forwards SIGTERM, SIGINT and SIGHUP to it, reaps
 *      every process of the namespace, and exits with the host's status.
 * Any step that fails stops the launch with an error that names the step;
 * there is no fallback to running without the step. */
#pragma once

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* User and group id of the app inside its user namespace. */
#define CS_SANDBOX_APP_UID 1000
#define CS_SANDBOX_APP_GID 1000

/* Paths of the app, its data and the runtime inside the sandbox. */
#define CS_SANDBOX_APP_DIR "/app"
#define CS_SANDBOX_DATA_DIR "/data"
#define CS_SANDBOX_RUNTIME_DIR "/run/cashstory"

/* Default limits; policy can change them. */
#define CS_SANDBOX_DEFAULT_MEMORY (1024ULL * 1024 * 1024)
#define CS_SANDBOX_DEFAULT_PIDS 64
#define CS_SANDBOX_DEFAULT_CPU_PERCENT 100
#define CS_SANDBOX_TMP_SIZE (64ULL * 1024 * 1024)

typedef struct cs_sandbox_grant {
    const char *path; /* absolute host path, shown at the same path inside */
    bool writable;
} cs_sandbox_grant;

typedef struct cs_sandbox_limits {
    uint64_t memory_bytes; /* 0: no limit */
    uint64_t max_pids;     /* 0: no limit */
    unsigned cpu_percent;  /* of one CPU; 0: no limit */
} cs_sandbox_limits;

typedef struct cs_sandbox_config {
    const char *app_id;   /* for messages, cgroup names and the host uid */
    const char *app_dir;  /* host path of the verified app folder */
    const char *data_dir; /* host path of the app's data folder */
    const cs_sandbox_grant *grants;
    size_t ngrants;
    const char *host_binary;      /* host path of cashstory-app */
    const char *const *host_argv; /* arguments after the program name, paths as seen inside */
    cs_sandbox_limits limits;
    const int *keep_fds; /* descriptors passed on to the app host */
    size_t nkeep_fds;
    int bus_fd;    /* the app's end of its bus socket pair, shown as CS_SANDBOX_BUS_FD, or -1 */
    int stdout_fd; /* standard output for the app, or -1 to keep the caller's */
    int stderr_fd; /* standard error for the app, or -1 to keep the caller's */
    bool verbose;  /* log each step on stderr */
    const struct timespec *log_start; /* CLOCK_MONOTONIC origin of logged times, or NULL */
} cs_sandbox_config;

/* Descriptor number of the bus socket inside the sandbox. */
#define CS_SANDBOX_BUS_FD 3

/* Run the app host in a new sandbox and wait for it. *status receives the
 * host's exit status, or 128 + signal number when a signal ended it. */
int cs_sandbox_run(const cs_sandbox_config *config, int *status, cs_error *err);

/* A sandbox started by cs_sandbox_spawn. */
typedef struct cs_sandbox {
    pid_t pid; /* pid of the sandbox's init in the host's pid namespace */
    struct cs_sandbox_limit_state *limits;
} cs_sandbox;

/* Start the sandbox and return once its setup succeeded (or failed, with the
 * reason). The caller waits for sandbox->pid and then calls
 * cs_sandbox_release. */
int cs_sandbox_spawn(const cs_sandbox_config *config, cs_sandbox *sandbox, cs_error *err);

/* Remove what the sandbox left on the host (its cgroups) after its init was
 * reaped. */
void cs_sandbox_release(cs_sandbox *sandbox);

/* Turn a wait status into the app's status: the exit code, or 128 + the
 * signal number. */
int cs_sandbox_status(int wait_status);

/* Host uid and gid that the app user maps to: the caller's own ids when
 * cashstory does not run as root, else an unprivileged id derived from the
 * app id (CS_SANDBOX_HOST_UID_BASE plus a hash, so that apps do not share an
 * id and the ids stay clear of ordinary accounts). */
#define CS_SANDBOX_HOST_UID_BASE 600000
#define CS_SANDBOX_HOST_UID_RANGE 400000
void cs_sandbox_host_ids(const char *app_id, uid_t *uid, gid_t *gid);

/* Descriptors (O_PATH) of everything the new root shows from the host,
 * opened in the child before it becomes the app user, with the launcher's
 * file-system identity. */
#define CS_SANDBOX_MAX_GRANTS 64
typedef struct cs_sandbox_sources {
    int usr, ld_cache, host, app, data;
    int grants[CS_SANDBOX_MAX_GRANTS];
    size_t ngrants;
} cs_sandbox_sources;

int cs_sandbox_open_sources(const cs_sandbox_config *config, cs_sandbox_sources *sources,
                            cs_error *err);
void cs_sandbox_close_sources(cs_sandbox_sources *sources);

/* Steps of the setup, shared by the files of this folder. */
int cs_sandbox_setup_mounts(const cs_sandbox_config *config, const cs_sandbox_sources *sources,
                            cs_error *err);
int cs_sandbox_setup_landlock(const cs_sandbox_config *config, bool verbose, cs_error *err);
int cs_sandbox_setup_seccomp(cs_error *err);
int cs_sandbox_drop_privileges(cs_error *err);
int cs_sandbox_bring_up_loopback(cs_error *err);
int cs_sandbox_close_fds(const int *keep, size_t nkeep, cs_error *err);

/* Resource limits. cs_sandbox_limits_apply runs in the parent, for the
 * child pid, before the child continues; it tries cgroup v2, then cgroup v1,
 * and records which mechanism enforced each limit in *report.
 * cs_sandbox_limits_rlimits runs in the child for the limits no cgroup
 * enforced. cs_sandbox_limits_cleanup removes the cgroups afterwards. */
typedef struct cs_sandbox_limit_state {
    char cgroup_v2[512];
    char cgroup_v1_memory[512];
    char cgroup_v1_pids[512];
    char cgroup_v1_cpu[512];
    bool memory_done, pids_done, cpu_done;
    char report[512];
} cs_sandbox_limit_state;

int cs_sandbox_limits_apply(const cs_sandbox_config *config, pid_t child,
                            cs_sandbox_limit_state *state, cs_error *err);
int cs_sandbox_limits_rlimits(const cs_sandbox_config *config, const cs_sandbox_limit_state *state,
                              cs_error *err);
void cs_sandbox_limits_cleanup(cs_sandbox_limit_state *state);

/* Remove empty cashstory-* cgroups that a killed supervisor left behind
 * below this process's own cgroups. Returns the number removed. */
int cs_sandbox_limits_remove_stale(void);
