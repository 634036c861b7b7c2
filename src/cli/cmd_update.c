/* cashstory update and cashstory rollback. */
#include "cli/cli.h"
#include "cli/output.h"

#include "package/store.h"
#include "policy/policy.h"
#include "update/client.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_progress(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "%s\n", cli_safe(line));
}

/* Load the policy (--policy, $CASHSTORY_POLICY or the default folder) and
 * the trust configuration, which includes the publishers policy trusts. */
static int load_config(const cli *c, cs_policy *policy, cs_trust *trust, cs_error *err)
{
    bool missing_ok = false;
    const char *location = cs_policy_location(c->policy, &missing_ok);
    int rc = cs_policy_load(policy, location, missing_ok, err);
    if (rc < 0)
        return rc;
    cs_policy_print_problems(policy, stderr, "cashstory update: ");
    rc = cli_load_trust(c, trust, policy, err);
    if (rc < 0)
        cs_policy_free(policy);
    return rc;
}

static json_t *app_json(const cs_update_app *app)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:i, s:i, s:i}", "id", app->id,
                          "repository", app->repository, "channel", app->channel, "status",
                          cs_update_status_name(app->status), "reason", app->reason,
                          "bytes_downloaded", (json_int_t)app->bytes_downloaded, "files_total",
                          (int)app->files_total, "files_downloaded", (int)app->files_downloaded,
                          "files_reused", (int)app->files_reused);
    /* Absent, not null, when there is no such version. */
    if (app->installed[0])
        json_object_set_new(j, "installed", json_string(app->installed));
    if (app->target[0])
        json_object_set_new(j, "target", json_string(app->target));
    return j;
}

/* The exit status of a run: 3 when something did not verify, 1 when an app
 * failed otherwise or when a policy error holds every app, else 0. */
static int exit_status(const cs_update_app *apps, size_t n)
{
    int status = CS_EXIT_OK;
    size_t policy_errors = 0;
    for (size_t i = 0; i < n; i++) {
        policy_errors += apps[i].policy_error;
        if (apps[i].status != CS_UPDATE_FAILED)
            continue;
        int code = -apps[i].error;
        int s = code == CS_EVERIFY || code == CS_EUNTRUSTED ? CS_EXIT_VERIFY : CS_EXIT_ERROR;
        if (s > status)
            status = s;
    }
    if (n > 0 && policy_errors == n && status == CS_EXIT_OK)
        status = CS_EXIT_ERROR;
    return status;
}

static int run_update(cli *c)
{
    cs_error err = {0};
    cs_policy policy;
    cs_trust trust;
    int rc = load_config(c, &policy, &trust, &err);
    if (rc < 0)
        return cli_fail(c, rc, &err);

    bool missing_ok = false;
    cs_update_request req = {
        .store = cli_store(c),
        .policy = &policy,
        .policy_location = cs_policy_location(c->policy, &missing_ok),
        .trust = &trust,
        .ids = c->argv,
        .nids = (size_t)c->argc,
        .check_only = c->check,
        .log = c->verbose ? print_progress : NULL,
    };
    cs_update_app *apps = NULL;
    size_t n = 0;
    rc = cs_update_run(&req, &apps, &n, &err);
    cs_trust_free(&trust);
    cs_policy_free(&policy);
    if (rc < 0)
        return cli_fail(c, rc, &err);

    int status = exit_status(apps, n);

    if (c->json) {
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(list, app_json(&apps[i]));
        json_t *j = json_pack("{s:b, s:o}", "check", c->check, "apps", list);
        cli_print_json(j);
        json_decref(j);
    } else if (n == 0) {
        printf("no apps installed in %s; name the apps to install: cashstory update ID...\n",
               cli_safe(req.store));
    } else {
        for (size_t i = 0; i < n; i++) {
            const cs_update_app *app = &apps[i];
            FILE *out = app->status == CS_UPDATE_FAILED ? stderr : stdout;
            fprintf(out, "%s: %s: %s", app->id, cs_update_status_name(app->status),
                    cli_safe(app->reason));
            if ((app->status == CS_UPDATE_INSTALLED || app->status == CS_UPDATE_STAGED) &&
                app->files_total > 0)
                fprintf(out, " (%u of %u files downloaded, %" PRIu64 " bytes; %u reused)",
                        app->files_downloaded, app->files_total, app->bytes_downloaded,
                        app->files_reused);
            fprintf(out, "\n");
        }
    }
    free(apps);
    return status;
}

static int run_rollback(cli *c)
{
    cs_error err = {0};
    char *from = NULL, *to = NULL;
    int rc = cs_update_rollback(cli_store(c), c->argv[0], "rolled back with 'cashstory rollback'",
                                &from, &to, &err);
    if (rc < 0)
        return cli_fail(c, rc, &err);
    /* The id passed cs_app_id_check and versions are valid semver, so they
     * need no escaping. */
    if (c->json) {
        json_t *j = json_pack("{s:s, s:s?, s:s}", "id", c->argv[0], "from", from, "to", to);
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("rolled back %s from %s to %s\n", c->argv[0], from ? from : "(unreadable version)",
               to);
    }
    free(from);
    free(to);
    return CS_EXIT_OK;
}

static const cli_option update_options[] = {
    {"check", OPT_CHECK, NULL, "report what would change and why; download and install nothing"},
    {"policy", OPT_POLICY, "PATH",
     "policy folder or file (default: $CASHSTORY_POLICY, else " CS_POLICY_DEFAULT_DIR ")"},
    {"verbose", OPT_VERBOSE, NULL,
     "print each app's update, each file download and each install on standard error"},
    {NULL, 0, NULL, NULL},
};

const cli_command cmd_update = {
    .name = "update",
    .usage = "[ID...] [--check]",
    .summary = "Update apps from the repositories that policy lists.",
    .description = "Without IDs, updates every installed app; an ID that is not installed yet is\n"
                   "installed. Policy chooses the repository, channel, pinned version or range,\n"
                   "update window, staged rollout and whether a new version applies at once or at\n"
                   "the app's next start. Repository metadata is verified as The Update Framework\n"
                   "prescribes, only files the store lacks are downloaded, and each package is\n"
                   "verified against the trust configuration before it is installed next to the\n"
                   "old version. Prints one line per app: ID: STATUS: REASON, where STATUS is\n"
                   "current, available, installed, staged, pinned, outside-window,\n"
                   "not-in-rollout, held or failed. Exit status 3 when metadata, a package or\n"
                   "its signer did not verify, 1 when an app failed otherwise or a policy error\n"
                   "holds every app, else 0. --json prints the report whatever the status.\n"
                   "See docs/update.md.",
    .options = update_options,
    .min_args = 0,
    .max_args = 1024,
    .common = CLI_TRUST | CLI_JSON,
    .run = run_update,
};

const cli_command cmd_rollback = {
    .name = "rollback",
    .usage = "ID",
    .summary = "Switch an app back to the version its last update replaced.",
    .description = "Swaps the app's current and previous versions in one rename each, so running\n"
                   "rollback again undoes it. The version rolled back from is recorded, and later\n"
                   "updates skip it until the channel names another version; rolling back to it\n"
                   "accepts it again.",
    .options = NULL,
    .min_args = 1,
    .max_args = 1,
    .common = CLI_JSON,
    .run = run_rollback,
};
