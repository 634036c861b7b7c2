#include "cli/cli.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/hex.h"
#include "package/manifest.h"
#include "package/store.h"
#include "package/verify.h"
#include "policy/policy.h"
#include "sandbox/sandbox.h"
#include "launcher/launch.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int run(cli *c)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    cs_error err = {0};
    cs_trust trust;
    cs_policy policy;
    bool missing_ok;
    const char *location = cs_policy_location(c->policy, &missing_ok);
    int rc = cs_policy_load(&policy, location, missing_ok, &err);
    if (rc < 0)
        return cli_fail(c, rc, &err);
    if ((rc = cli_load_trust(c, &trust, &policy, &err)) < 0) {
        cs_policy_free(&policy);
        return cli_fail(c, rc, &err);
    }
    cs_policy_print_problems(&policy, stderr, "cashstory run: ");
    cs_policy_log *policy_log = cs_policy_log_new(stderr);
    cs_policy_log_configure(policy_log, &policy);
    if (c->verbose)
        fprintf(stderr, "[%8.1f ms] loaded trust and policy %s\n", 0.0,
                policy.location ? cli_safe(policy.location) : "(no policy files)");

    cs_launch_request request = {
        .target = c->argv[0],
        .dev = c->dev,
        .store = cli_store(c),
        .trust = &trust,
        .policy = &policy,
        .policy_log = policy_log,
        .home = getenv("HOME"),
        .app_args = c->argv + 1,
        .napp_args = (size_t)(c->argc - 1),
        .log = stderr,
        .verbose = c->verbose,
        .log_start = &start,
    };
    cs_launch launch;
    int status = CS_EXIT_ERROR;
    rc = cs_launch_prepare(&request, &launch, &err);
    if (rc == 0 && c->dev)
        fprintf(stderr,
                "cashstory run: WARNING: running the unsigned folder %s in developer mode; its "
                "code is NOT verified\n",
                cli_safe(c->argv[0]));
    if (rc == 0) {
        int app_status = 0;
        rc = cs_sandbox_run(&launch.config, &app_status, &err);
        if (rc == 0) {
            if (app_status > 128)
                fprintf(stderr, "cashstory run: %s was ended by signal %d (%s)%s\n",
                        launch.manifest.id, app_status - 128, strsignal(app_status - 128),
                        app_status - 128 == SIGKILL ? "; it may have exceeded its memory limit"
                                                    : "");
            status = app_status;
        }
    }
    if (rc < 0)
        status = cli_fail(c, rc, &err);
    cs_launch_free(&launch);
    cs_policy_log_free(policy_log);
    cs_policy_free(&policy);
    cs_trust_free(&trust);
    return status;
}

static const cli_option options[] = {
    {"dev", OPT_DEV, NULL,
     "run an unsigned app folder in developer mode (marked unverified; policy can forbid it)"},
    {"policy", OPT_POLICY, "PATH",
     "policy folder or file (default: $CASHSTORY_POLICY, else " CS_POLICY_DEFAULT_DIR
     " if it exists)"},
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
