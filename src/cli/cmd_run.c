#include "cli/cli.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/hex.h"
#include "package/manifest.h"
#include "package/store.h"
#include "package/verify.h"
#include "policy/policy.h"
#include "sandbox/sandbox.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_GRANTS 64

typedef struct run_state {
    cli *c;
    struct timespec start;
    char app_dir[PATH_MAX];
    char staging[PATH_MAX]; /* temporary extraction of a .csa, removed afterwards */
    char data_dir[PATH_MAX];
    char host[PATH_MAX];
    char index_hex[CS_SHA256_HEX_LEN + 1];
    cs_manifest manifest;
    bool dev;
} run_state;

static void step(run_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void step(run_state *st, const char *fmt, ...)
{
    if (!st->c->verbose)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double ms = (double)(now.tv_sec - st->start.tv_sec) * 1e3 +
                (double)(now.tv_nsec - st->start.tv_nsec) / 1e6;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "[%8.1f ms] %s\n", ms, cli_safe(line));
}

/* Find cashstory-app: $CASHSTORY_APP_HOST, else next to this program (an
 * installed layout), else in the build tree's src/app folder. */
static int find_host(char *out, size_t size, cs_error *err)
{
    const char *env = getenv("CASHSTORY_APP_HOST");
    if (env && *env) {
        snprintf(out, size, "%s", env);
        return access(out, X_OK) == 0
                   ? 0
                   : cs_error_errno(err, errno, "CASHSTORY_APP_HOST %s is not executable", env);
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return cs_error_errno(err, errno, "cannot find this program's path");
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    *slash = '\0';
    static const char *const candidates[] = {"cashstory-app", "src/app/cashstory-app",
                                             "../lib/cashstory/cashstory-app"};
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
        snprintf(out, size, "%s/%s", self, candidates[i]);
        if (access(out, X_OK) == 0)
            return 0;
    }
    return cs_error_set(err, ENOENT,
                        "cannot find the app host cashstory-app next to %s; set CASHSTORY_APP_HOST",
                        self);
}

static int read_manifest(run_state *st, cs_error *err)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", st->app_dir, CS_MANIFEST_NAME);
    cs_autofree uint8_t *data = NULL;
    size_t len = 0;
    int rc = cs_read_file_at(AT_FDCWD, path, CS_MANIFEST_MAX, true, &data, &len, err);
    if (rc < 0)
        return rc;
    return cs_manifest_parse(data, len, &st->manifest, err);
}

static int report_verification(const char *target, int rc, cs_verify_result *res, cs_error *err)
{
    for (size_t i = 0; i < res->report.stored; i++)
        fprintf(stderr, "problem: %s\n", cli_safe(res->report.problems[i]));
    return cs_error_prefix(err, "%s failed verification and was not started", target);
    (void)rc;
}

/* Verify the app named on the command line and find its folder. */
static int prepare_app(run_state *st, const cs_trust *trust, cs_error *err)
{
    cli *c = st->c;
    const char *target = c->argv[0];
    cs_verify_result res;
    int rc;

    if (st->dev) {
        if (!realpath(target, st->app_dir))
            return cs_error_errno(err, errno, "cannot open the developer folder %s", target);
        fprintf(stderr,
                "cashstory run: WARNING: running the unsigned folder %s in developer mode; its "
                "code is NOT verified\n",
                cli_safe(st->app_dir));
        return read_manifest(st, err);
    }

    struct stat sb;
    if (cs_app_id_check(target, NULL) == 0 && stat(target, &sb) < 0) {
        cs_autofree char *path = NULL;
        rc = cs_store_app_path(cli_store(c), target, &path, err);
        if (rc < 0)
            return rc;
        if (!realpath(path, st->app_dir))
            return cs_error_errno(err, errno, "cannot resolve %s", path);
        rc = cs_verify_dir(st->app_dir, trust, &res, err);
    } else {
        const char *base = getenv("TMPDIR");
        snprintf(st->staging, sizeof(st->staging), "%s/cashstory-run-XXXXXX",
                 base && *base ? base : "/tmp");
        if (!mkdtemp(st->staging)) {
            st->staging[0] = '\0';
            return cs_error_errno(err, errno, "cannot create a temporary folder");
        }
        chmod(st->staging, 0755);
        snprintf(st->app_dir, sizeof(st->app_dir), "%s", st->staging);
        cs_autoclose int fd = open(st->staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        rc = cs_verify_archive(target, trust, fd, &res, err);
    }
    if (rc < 0) {
        if (rc == -CS_EVERIFY || rc == -CS_EUNTRUSTED)
            report_verification(target, rc, &res, err);
        cs_verify_result_free(&res);
        return rc;
    }
    cs_hex_encode(res.index_sha256, CS_SHA256_LEN, st->index_hex);
    step(st, "verified %s %s: signature, signer (%s) and %llu files", res.index.app_id,
         res.index.version, res.signer.trust_note, (unsigned long long)res.files_checked);
    cs_verify_result_free(&res);
    return read_manifest(st, err);
}

static int prepare_data_dir(run_state *st, cs_error *err)
{
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s/data", cli_store(st->c));
    /* The parents stay traversable for the app's host user; the app's own
     * folder is private to it. */
    int rc = cs_mkdir_p(parent, 0711, err);
    if (rc < 0)
        return cs_error_prefix(err, "data folder");
    char real[PATH_MAX];
    if (!realpath(parent, real))
        return cs_error_errno(err, errno, "cannot resolve %s", parent);
    snprintf(st->data_dir, sizeof(st->data_dir), "%s/%s", real, st->manifest.id);
    if (mkdir(st->data_dir, 0700) < 0 && errno != EEXIST)
        return cs_error_errno(err, errno, "cannot create the data folder %s", st->data_dir);
    uid_t uid;
    gid_t gid;
    cs_sandbox_host_ids(st->manifest.id, &uid, &gid);
    if (chown(st->data_dir, uid, gid) < 0 || chmod(st->data_dir, 0700) < 0)
        return cs_error_errno(err, errno, "cannot give the data folder %s to the app user",
                              st->data_dir);
    return 0;
}

static int run(cli *c)
{
    run_state st;
    memset(&st, 0, sizeof(st));
    st.c = c;
    st.dev = c->dev;
    clock_gettime(CLOCK_MONOTONIC, &st.start);
    cs_error err = {0};
    cs_trust trust;
    cs_policy policy;
    int rc = cli_load_trust(c, &trust, &err);
    if (rc < 0)
        return cli_fail(c, rc, &err);
    const char *policy_path = c->policy ? c->policy : getenv("CASHSTORY_POLICY");
    rc = cs_policy_load(&policy, policy_path && *policy_path ? policy_path : CS_POLICY_DEFAULT_PATH,
                        !(policy_path && *policy_path), &err);
    if (rc < 0) {
        cs_trust_free(&trust);
        return cli_fail(c, rc, &err);
    }
    step(&st, "loaded trust and policy%s%s", policy.path ? " " : " (no policy file)",
         policy.path ? policy.path : "");

    int status = CS_EXIT_ERROR;
    if (st.dev && !cs_policy_developer_mode(&policy)) {
        rc = cs_error_set(&err, EPERM,
                          "developer mode is not allowed by policy %s (field 'developer_mode')",
                          policy.path);
        goto out;
    }
    if ((rc = find_host(st.host, sizeof(st.host), &err)) < 0 ||
        (rc = prepare_app(&st, &trust, &err)) < 0 || (rc = prepare_data_dir(&st, &err)) < 0)
        goto out;

    cs_policy_fs_decision decisions[MAX_GRANTS];
    size_t ndecisions = 0;
    json_t *requests = st.manifest.permissions ? json_object_get(st.manifest.permissions, "fs")
                                               : NULL;
    rc = cs_policy_fs_grants(&policy, st.manifest.id, requests, getenv("HOME"), decisions,
                             MAX_GRANTS, &ndecisions, &err);
    if (rc < 0)
        goto out;
    cs_sandbox_grant grants[MAX_GRANTS];
    size_t ngrants = 0;
    const char *host_argv[16 + 2 * MAX_GRANTS + 256];
    size_t argc = 0;
    char grant_args[MAX_GRANTS][1100];
    host_argv[argc++] = "--app";
    host_argv[argc++] = CS_SANDBOX_APP_DIR;
    host_argv[argc++] = "--data";
    host_argv[argc++] = CS_SANDBOX_DATA_DIR;
    if (st.dev) {
        host_argv[argc++] = "--dev";
    } else {
        host_argv[argc++] = "--index-sha256";
        host_argv[argc++] = st.index_hex;
    }
    for (size_t i = 0; i < ndecisions; i++) {
        cs_policy_fs_decision *d = &decisions[i];
        struct stat sb;
        if (d->granted && stat(d->path, &sb) < 0) {
            fprintf(stderr, "cashstory run: %s: granted path %s does not exist; not mounted\n",
                    st.manifest.id, cli_safe(d->path));
            continue;
        }
        step(&st, "fs %s %s: %s", d->writable ? "read-write" : "read", d->path, d->reason);
        if (!d->granted)
            continue;
        grants[ngrants].path = d->path;
        grants[ngrants].writable = d->writable;
        snprintf(grant_args[ngrants], sizeof(grant_args[ngrants]), "%s:%s", d->path,
                 d->writable ? "rw" : "ro");
        host_argv[argc++] = "--grant";
        host_argv[argc++] = grant_args[ngrants];
        ngrants++;
    }
    host_argv[argc++] = "--";
    for (int i = 1; i < c->argc && argc < sizeof(host_argv) / sizeof(host_argv[0]) - 1; i++)
        host_argv[argc++] = c->argv[i];
    host_argv[argc] = NULL;

    cs_sandbox_config config = {
        .app_id = st.manifest.id,
        .app_dir = st.app_dir,
        .data_dir = st.data_dir,
        .grants = grants,
        .ngrants = ngrants,
        .host_binary = st.host,
        .host_argv = host_argv,
        .verbose = c->verbose,
        .log_start = &st.start,
        .bus_fd = -1,
    };
    cs_policy_limits(&policy, st.manifest.id, &config.limits);
    step(&st, "starting the sandbox");
    int app_status = 0;
    rc = cs_sandbox_run(&config, &app_status, &err);
    if (rc == 0) {
        step(&st, "app exited with status %d", app_status);
        if (app_status > 128)
            fprintf(stderr,
                    "cashstory run: %s was ended by signal %d (%s)%s\n", st.manifest.id,
                    app_status - 128, strsignal(app_status - 128),
                    app_status - 128 == SIGKILL ? "; it may have exceeded its memory limit" : "");
        status = app_status;
    }

out:
    if (rc < 0)
        status = cli_fail(c, rc, &err);
    if (st.staging[0]) {
        cs_autofree char *parent = cs_dirname(st.staging);
        cs_autoclose int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd >= 0)
            cs_remove_tree_at(pfd, strrchr(st.staging, '/') + 1);
    }
    cs_manifest_free(&st.manifest);
    cs_policy_free(&policy);
    cs_trust_free(&trust);
    return status;
}

static const cli_option options[] = {
    {"dev", OPT_DEV, NULL,
     "run an unsigned app folder in developer mode (marked unverified; policy can forbid it)"},
    {"policy", OPT_POLICY, "FILE",
     "policy file (default: $CASHSTORY_POLICY, else " CS_POLICY_DEFAULT_PATH " if it exists)"},
    {"verbose", OPT_VERBOSE, NULL, "print each start-up step with its time on stderr"},
    {NULL, 0, NULL, NULL},
};

const cli_command cmd_run = {
    .name = "run",
    .usage = "ID | FILE.csa | --dev DIR [-- ARGS...]",
    .summary = "Verify an app and run it in its own sandbox.",
    .description =
        "Runs an installed app (ID), a package without installing it (FILE.csa), or with --dev\n"
        "an unsigned folder. The app is verified first as 'verify' does, then its JavaScript\n"
        "runs in a sandbox: new namespaces, a new root with the app read-only and its data\n"
        "folder (STORE/data/ID) read-write, no capabilities, Landlock and a seccomp filter.\n"
        "File-system paths the manifest requests are mounted only when policy grants them.\n"
        "Arguments after -- reach the app as process.argv. The exit status is the app's.",
    .options = options,
    .min_args = 1,
    .max_args = 4096,
    .common = CLI_TRUST,
    .run = run,
};
